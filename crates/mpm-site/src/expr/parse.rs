//! The text of an expression into its tree ([`Cond`], [`Word`]): a
//! lexer that knows where it is (after `=~` comes a regex) and a
//! recursive-descent parser with Apache's precedence (`!` over `&&`
//! over `||`). Every error carries the byte offset it was found at.

use regex::Regex;

use super::{BinOp, Cond, ExprError, Func, Part, UnOp, VarRef, Word};

/// Lexical tokens, each with its byte offset.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    AndAnd,
    OrOr,
    Not,
    Dot,
    /// `==`, `!=`, `<`, … and `-eq`, `-ipmatch`, … and `in`.
    Bin(BinOp),
    /// `=~` (false) or `!~` (true), followed by a regex token.
    Match(bool),
    /// `-f`, `-d`, …
    Un(UnOp),
    /// `/…/i` or `m#…#`.
    Regex(String, bool),
    /// A quoted string's parts.
    Str(Vec<Part>),
    /// A run of digits.
    Num(String),
    /// `%{…}`.
    Var(VarRef),
    /// `$0`…`$9`.
    Backref(u8),
    /// A bare name: a function, `true`, `false`.
    Ident(String),
}

pub(super) fn parse_cond(text: &str) -> Result<Cond, ExprError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        at: 0,
        end: text.len(),
    };
    let cond = p.or()?;
    if let Some((pos, t)) = p.toks.get(p.at) {
        return Err(ExprError::at(
            *pos,
            format!(
                "found {} after a complete condition; join conditions with && or ||",
                describe(t)
            ),
        ));
    }
    Ok(cond)
}

/// A string expression: literal text with `%{VAR}` and function calls
/// `%{func:arg}` interpolated (no quotes needed).
pub(super) fn parse_string(text: &str) -> Result<Vec<Part>, ExprError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    string_parts(text, &chars, &mut i, None)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::AndAnd => "'&&'".into(),
        Tok::OrOr => "'||'".into(),
        Tok::Not => "'!'".into(),
        Tok::Dot => "'.'".into(),
        Tok::Bin(op) => format!("operator '{}'", op.name()),
        Tok::Match(neg) => if *neg { "'!~'" } else { "'=~'" }.into(),
        Tok::Un(op) => format!("operator '-{}'", op.letter()),
        Tok::Regex(..) => "a regular expression".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Num(n) => format!("number {n}"),
        Tok::Var(_) => "a variable".into(),
        Tok::Backref(n) => format!("${n}"),
        Tok::Ident(s) => format!("'{s}'"),
    }
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let pos = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
    let at = |i: usize| chars.get(i).map(|c| c.1);
    let mut out = Vec::new();
    let mut i = 0;
    let mut want_regex = false;
    while i < chars.len() {
        let c = chars[i].1;
        let start = pos(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if want_regex {
            want_regex = false;
            let delim = match c {
                '/' => {
                    i += 1;
                    '/'
                }
                'm' => match at(i + 1) {
                    Some(d) if !d.is_alphanumeric() && !d.is_whitespace() => {
                        i += 2;
                        d
                    }
                    _ => {
                        return Err(ExprError::at(
                            start,
                            "expected a regular expression (/…/ or m#…#)",
                        ))
                    }
                },
                _ => {
                    return Err(ExprError::at(
                        start,
                        "expected a regular expression (/…/ or m#…#) after =~ or !~",
                    ))
                }
            };
            let mut body = String::new();
            loop {
                match at(i) {
                    None => {
                        return Err(ExprError::at(
                            start,
                            format!("regular expression not closed by '{delim}'"),
                        ))
                    }
                    Some('\\') if at(i + 1) == Some(delim) => {
                        body.push(delim);
                        i += 2;
                    }
                    Some('\\') => {
                        body.push('\\');
                        if let Some(n) = at(i + 1) {
                            body.push(n);
                        }
                        i += 2;
                    }
                    Some(ch) if ch == delim => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        body.push(ch);
                        i += 1;
                    }
                }
            }
            let nocase = at(i) == Some('i');
            if nocase {
                i += 1;
            }
            out.push((start, Tok::Regex(body, nocase)));
            continue;
        }
        let two: String = chars[i..].iter().take(2).map(|c| c.1).collect();
        let tok = match two.as_str() {
            "&&" => Some(Tok::AndAnd),
            "||" => Some(Tok::OrOr),
            "==" => Some(Tok::Bin(BinOp::StrEq)),
            "!=" => Some(Tok::Bin(BinOp::StrNe)),
            "<=" => Some(Tok::Bin(BinOp::StrLe)),
            ">=" => Some(Tok::Bin(BinOp::StrGe)),
            "=~" => Some(Tok::Match(false)),
            "!~" => Some(Tok::Match(true)),
            _ => None,
        };
        if let Some(tok) = tok {
            want_regex = matches!(tok, Tok::Match(_));
            out.push((start, tok));
            i += 2;
            continue;
        }
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            ',' => Tok::Comma,
            '!' => Tok::Not,
            '.' => Tok::Dot,
            '<' => Tok::Bin(BinOp::StrLt),
            '>' => Tok::Bin(BinOp::StrGt),
            '=' => Tok::Bin(BinOp::StrEq),
            '\'' | '"' => {
                i += 1;
                let parts = string_parts(text, &chars, &mut i, Some(c))?;
                out.push((start, Tok::Str(parts)));
                continue;
            }
            '%' if at(i + 1) == Some('{') => {
                i += 2;
                let var = var_ref(text, &chars, &mut i, start)?;
                out.push((start, Tok::Var(var)));
                continue;
            }
            '$' if at(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let n = at(i + 1).and_then(|d| d.to_digit(10)).unwrap_or(0) as u8;
                out.push((start, Tok::Backref(n)));
                i += 2;
                continue;
            }
            '-' if at(i + 1).is_some_and(|d| d.is_ascii_alphabetic()) => {
                let mut j = i + 1;
                let mut name = String::new();
                while let Some(ch) = at(j).filter(|ch| ch.is_ascii_alphabetic()) {
                    name.push(ch);
                    j += 1;
                }
                let tok = if let Some(op) = UnOp::from_letter(&name) {
                    Tok::Un(op)
                } else if let Some(op) = BinOp::from_dash_name(&name) {
                    Tok::Bin(op)
                } else {
                    return Err(ExprError::at(start, format!("unknown operator '-{name}'")));
                };
                out.push((start, tok));
                i = j;
                continue;
            }
            d if d.is_ascii_digit() => {
                let mut j = i;
                let mut n = String::new();
                while let Some(ch) = at(j).filter(|ch| ch.is_ascii_digit()) {
                    n.push(ch);
                    j += 1;
                }
                out.push((start, Tok::Num(n)));
                i = j;
                continue;
            }
            a if a.is_ascii_alphabetic() || a == '_' => {
                let mut j = i;
                let mut name = String::new();
                while let Some(ch) = at(j).filter(|ch| ch.is_ascii_alphanumeric() || *ch == '_') {
                    name.push(ch);
                    j += 1;
                }
                let tok = if name == "in" {
                    Tok::Bin(BinOp::In)
                } else {
                    Tok::Ident(name)
                };
                out.push((start, tok));
                i = j;
                continue;
            }
            other => {
                return Err(ExprError::at(
                    start,
                    format!("unexpected character '{other}'"),
                ))
            }
        };
        out.push((start, tok));
        i += 1;
    }
    if want_regex {
        return Err(ExprError::at(
            text.len(),
            "expected a regular expression after =~ or !~",
        ));
    }
    Ok(out)
}

/// The parts of a string up to its closing `quote` (or the end, for a
/// string expression), from `chars[*i]`.
fn string_parts(
    text: &str,
    chars: &[(usize, char)],
    i: &mut usize,
    quote: Option<char>,
) -> Result<Vec<Part>, ExprError> {
    let open = chars.get(i.saturating_sub(1)).map_or(0, |c| c.0);
    let mut parts = Vec::new();
    let mut lit = String::new();
    loop {
        let Some(&(p, c)) = chars.get(*i) else {
            if let Some(q) = quote {
                return Err(ExprError::at(open, format!("string not closed by {q}")));
            }
            break;
        };
        if Some(c) == quote {
            *i += 1;
            break;
        }
        match c {
            '\\' => {
                if let Some(&(_, n)) = chars.get(*i + 1) {
                    lit.push(n);
                    *i += 2;
                } else {
                    lit.push('\\');
                    *i += 1;
                }
            }
            '%' if chars.get(*i + 1).map(|c| c.1) == Some('{') => {
                *i += 2;
                let var = var_ref(text, chars, i, p)?;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(var));
            }
            '$' if chars.get(*i + 1).is_some_and(|c| c.1.is_ascii_digit()) => {
                let n = chars[*i + 1].1.to_digit(10).unwrap_or(0) as u8;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Backref(n));
                *i += 2;
            }
            other => {
                lit.push(other);
                *i += 1;
            }
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

/// `%{NAME}` or `%{func:arg}`, after the `%{` (at `start`).
fn var_ref(
    text: &str,
    chars: &[(usize, char)],
    i: &mut usize,
    start: usize,
) -> Result<VarRef, ExprError> {
    let from = chars.get(*i).map_or(text.len(), |c| c.0);
    let close = text[from..]
        .find('}')
        .ok_or_else(|| ExprError::at(start, "'%{' not closed by '}'"))?;
    let inner = &text[from..from + close];
    let consumed = inner.chars().count() + 1;
    *i += consumed;
    if inner.is_empty() {
        return Err(ExprError::at(start, "empty variable name in '%{}'"));
    }
    if let Some((func, arg)) = inner.split_once(':') {
        // `%{HTTP:X}` and `%{ENV:X}` as mod_rewrite writes them are the
        // functions `http` and `env`; `%{SSL:…}` is a variable.
        if func.eq_ignore_ascii_case("SSL") {
            return Ok(VarRef::Name(inner.to_string()));
        }
        let f = Func::by_name(func).ok_or_else(|| {
            ExprError::at(
                start,
                format!("unknown function '{func}' in '%{{{inner}}}'"),
            )
        })?;
        return Ok(VarRef::Func(f, arg.to_string()));
    }
    if !crate::vars::is_known(inner) {
        return Err(ExprError::at(start, format!("unknown variable '{inner}'")));
    }
    // Apache's expressions know seven request headers as variables
    // (mod_rewrite reads any `HTTP_*`); another is refused at startup, as
    // Apache refuses it ("Variable … does not exist").
    let upper = crate::vars::upper(inner);
    if upper.starts_with("HTTP_") && !super::HEADER_VARS.iter().any(|(v, _)| *v == upper) {
        let header = upper["HTTP_".len()..]
            .replace('_', "-")
            .to_ascii_lowercase();
        return Err(ExprError::at(
            start,
            format!(
                "unknown variable '{inner}': Apache's expressions know only {} as variables; read the header with req('{header}')",
                super::HEADER_VARS
                    .iter()
                    .map(|(v, _)| *v)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(VarRef::Name(inner.to_string()))
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.1)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |t| t.0)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.1.clone());
        self.at += 1;
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ExprError> {
        let pos = self.pos();
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(ExprError::at(
                pos,
                format!("expected {what}, found {}", describe(&t)),
            )),
            None => Err(ExprError::at(pos, format!("expected {what} at the end"))),
        }
    }

    fn or(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::OrOr) {
            self.at += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::AndAnd) {
            self.at += 1;
            let right = self.unary()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Cond, ExprError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.at += 1;
                Ok(Cond::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                self.at += 1;
                let inner = self.or()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(inner)
            }
            Some(Tok::Ident(name)) if name == "true" || name == "false" => {
                let value = name == "true";
                self.at += 1;
                Ok(if value { Cond::True } else { Cond::False })
            }
            Some(Tok::Un(op)) => {
                let op = *op;
                self.at += 1;
                let word = self.word()?;
                Ok(Cond::Unary(op, word))
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Cond, ExprError> {
        let left_pos = self.pos();
        let left = self.word()?;
        let pos = self.pos();
        match self.next() {
            Some(Tok::Match(negate)) => {
                let rpos = self.pos();
                let Some(Tok::Regex(body, nocase)) = self.next() else {
                    return Err(ExprError::at(rpos, "expected a regular expression"));
                };
                let re: Regex = crate::pcre::compile(&body, nocase).map_err(|e| ExprError::at(rpos, e))?;
                Ok(Cond::Regex(left, Box::new(re), negate))
            }
            Some(Tok::Bin(BinOp::In)) => {
                self.expect(Tok::LBrace, "'{' opening a list")?;
                let mut items = vec![self.word()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.at += 1;
                    items.push(self.word()?);
                }
                self.expect(Tok::RBrace, "'}' closing the list")?;
                Ok(Cond::In(left, items))
            }
            Some(Tok::Bin(op)) => {
                let right = self.word()?;
                Ok(Cond::Binary(left, op, right))
            }
            Some(t) => Err(ExprError::at(pos, format!("expected a comparison operator, found {}", describe(&t)))),
            None => Err(ExprError::at(
                left_pos,
                "a value alone is not a condition; compare it (== != =~ -eq …) or test it (-n -z -f …)",
            )),
        }
    }

    fn word(&mut self) -> Result<Word, ExprError> {
        let mut w = self.simple_word()?;
        while self.peek() == Some(&Tok::Dot) {
            self.at += 1;
            let right = self.simple_word()?;
            w = Word::Concat(Box::new(w), Box::new(right));
        }
        Ok(w)
    }

    fn simple_word(&mut self) -> Result<Word, ExprError> {
        let pos = self.pos();
        match self.next() {
            Some(Tok::Str(parts)) => Ok(Word::Str(parts)),
            Some(Tok::Num(n)) => Ok(Word::Str(vec![Part::Lit(n)])),
            Some(Tok::Var(v)) => Ok(Word::Str(vec![Part::Var(v)])),
            Some(Tok::Backref(n)) => Ok(Word::Str(vec![Part::Backref(n)])),
            Some(Tok::Ident(name)) => {
                let f = Func::by_name(&name).ok_or_else(|| {
                    ExprError::at(
                        pos,
                        format!("unknown function or word '{name}' (strings are quoted: '{name}')"),
                    )
                })?;
                self.expect(Tok::LParen, &format!("'(' after {name}"))?;
                let arg = self.word()?;
                self.expect(Tok::RParen, "')' closing the function's argument")?;
                Ok(Word::Func(f, Box::new(arg)))
            }
            Some(t) => Err(ExprError::at(
                pos,
                format!(
                    "expected a value (a string, a number, %{{VAR}} or a function), found {}",
                    describe(&t)
                ),
            )),
            None => Err(ExprError::at(pos, "expected a value at the end")),
        }
    }
}
