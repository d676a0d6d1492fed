//! A small JSON API whose state is shared right under every strategy.
//!
//! ```text
//! POST /items        {"name": "…"}  → 201 {"id": n, "name": "…"}, Location: /items/n
//! GET  /items                       → 200 [{"id": 1, "name": "…"}, …]
//! GET  /items/{id}                  → 200 {"id": …} or 404
//! ```
//!
//! Errors are JSON too (`{"error": "…"}`): 400 for a body that is not an
//! item, 404, 405 with `Allow`.
//!
//! Where the items live depends on the strategy, because the handler is
//! one value per process:
//!
//! - in one process (`event-threads`, the default; `worker-threads`,
//!   `single`) every thread shares the handler, so the items are a
//!   `Mutex<Vec<Item>>` in it ([`MemoryStore`]);
//! - under a forking strategy (`event`, `worker`, `prefork`) each child has
//!   its own copy of the handler, and a `Mutex<Vec<_>>` would split the
//!   items between the children (ids repeated, lists that depend on the
//!   child that answers). The items then live outside the processes, in a
//!   file under a lock ([`FileStore`]; a database plays this part in a real
//!   program), and [`mpm::Server::with_factory`] opens it in each child
//!   after the fork, so no two children share an open file (and its lock).
//!
//! Run: `cargo run -p mpm-examples --example json_api -- [ADDR [STRATEGY
//! [FILE]]]` (default `127.0.0.1:8083`, `event-threads`, and for a forking
//! strategy a new file in the temporary directory), then
//! `curl -d '{"name":"tea"}' http://127.0.0.1:8083/items` and
//! `curl http://127.0.0.1:8083/items`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mpm::http::{header, Method, StatusCode};
use mpm::{Body, ConnInfo, Handler, HandlerFactory, Request, Response};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// One item, as stored and as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
}

/// What a client sends to add one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    name: String,
}

/// Where the items live.
trait Store: Send + Sync + 'static {
    /// Add an item with the next id.
    fn add(&self, name: String) -> Result<Item, String>;
    /// Every item, by id.
    fn list(&self) -> Result<Vec<Item>, String>;
}

/// In this process: for the strategies that serve in one process, where
/// every thread shares the one handler (and so this store).
#[derive(Default)]
struct MemoryStore {
    items: Mutex<Vec<Item>>,
}

impl Store for MemoryStore {
    fn add(&self, name: String) -> Result<Item, String> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let item = Item {
            id: items.len() as u64 + 1,
            name,
        };
        items.push(item.clone());
        Ok(item)
    }

    fn list(&self) -> Result<Vec<Item>, String> {
        Ok(self.items.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// In a file, one JSON item per line, for the forking strategies: every
/// child opens the file itself (in the handler factory, after the fork)
/// and takes an exclusive `flock` on it around each change, so two
/// children never hand out the same id. A lock taken through one open
/// file excludes the other opens of it (the other children) but not the
/// threads sharing this one, hence the `Mutex` too.
struct FileStore {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileStore {
    fn open(path: &Path) -> Result<FileStore, String> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("open the item file {}: {e}", path.display()))?;
        Ok(FileStore {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Run `f` on the file while this thread holds it and this process
    /// holds its lock.
    fn locked<T>(&self, f: impl FnOnce(&mut File) -> std::io::Result<T>) -> Result<T, String> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let what = |e: std::io::Error| format!("the item file {}: {e}", self.path.display());
        // The duplicate shares the open file (and so its lock) with `file`.
        let dup = file.try_clone().map_err(what)?;
        let mut lock = Flock::lock(dup, FlockArg::LockExclusive)
            .map_err(|(_, e)| what(std::io::Error::from(e)))?;
        f(&mut lock).map_err(what)
    }

    fn read_all(file: &mut File) -> std::io::Result<Vec<Item>> {
        file.seek(SeekFrom::Start(0))?;
        let mut items = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            let item = serde_json::from_str(&line).map_err(std::io::Error::other)?;
            items.push(item);
        }
        Ok(items)
    }
}

impl Store for FileStore {
    fn add(&self, name: String) -> Result<Item, String> {
        self.locked(|file| {
            let id = Self::read_all(file)?.len() as u64 + 1;
            let item = Item { id, name };
            let mut line = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            line.push(b'\n');
            file.write_all(&line)?;
            Ok(item)
        })
    }

    fn list(&self) -> Result<Vec<Item>, String> {
        self.locked(Self::read_all)
    }
}

/// The API over a store.
struct Api<S> {
    store: S,
}

impl<S: Store> Handler for Api<S> {
    fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
        let path = req.uri().path().to_string();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method().clone(), segments.as_slice()) {
            (Method::POST, ["items"]) => self.create(req),
            (Method::GET, ["items"]) => match self.store.list() {
                Ok(items) => json(StatusCode::OK, &items),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
            },
            (Method::GET, ["items", id]) => {
                let Ok(id) = id.parse::<u64>() else {
                    return error(StatusCode::NOT_FOUND, "no such item");
                };
                match self.store.list() {
                    Ok(items) => match items.into_iter().find(|i| i.id == id) {
                        Some(item) => json(StatusCode::OK, &item),
                        None => error(StatusCode::NOT_FOUND, "no such item"),
                    },
                    Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
                }
            }
            (_, ["items"]) => not_allowed("GET, POST"),
            (_, ["items", _]) => not_allowed("GET"),
            _ => error(StatusCode::NOT_FOUND, "no such resource"),
        }
    }
}

impl<S: Store> Api<S> {
    fn create(&self, req: Request<'_>) -> Response {
        let new: NewItem = match serde_json::from_reader(req.into_body()) {
            Ok(new) => new,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("not an item: {e}")),
        };
        match self.store.add(new.name) {
            Ok(item) => {
                let mut res = json(StatusCode::CREATED, &item);
                let location = format!("/items/{}", item.id);
                if let Ok(value) = location.parse() {
                    res.headers_mut().insert(header::LOCATION, value);
                }
                res
            }
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        }
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => mpm::http::Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::Empty)),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}

fn not_allowed(allow: &'static str) -> Response {
    let mut res = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    res
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8083".into());
    let strategy = args
        .next()
        .unwrap_or_else(|| mpm::strategies()[0].to_string());
    let forks = mpm::by_name(&strategy)
        .ok_or_else(|| {
            format!(
                "no strategy {strategy:?}; there are: {}",
                mpm::strategies().join(", ")
            )
        })?
        .info()
        .forked;
    let (server, items_in) = if forks {
        let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
            std::env::temp_dir().join(format!("json_api-{}.jsonl", std::process::id()))
        });
        // Fail now, not in every child, when the file cannot be opened.
        FileStore::open(&path)?;
        let shown = path.display().to_string();
        let factory: HandlerFactory = Arc::new(move || {
            let store = FileStore::open(&path)?;
            Ok(Arc::new(Api { store }) as Arc<dyn Handler>)
        });
        (mpm::Server::with_factory(factory), shown)
    } else {
        let api = Api {
            store: MemoryStore::default(),
        };
        (mpm::Server::new(api), "memory".to_string())
    };
    let server = server.strategy(&strategy).listen(&addr)?.bind()?;
    println!(
        "listening on http://{}/ ({}, items in {items_in})",
        server.local_addrs()[0],
        server.strategy()
    );
    server.run()?;
    Ok(())
}
