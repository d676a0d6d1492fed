//! Host names to addresses, as Apache's `Listen` resolves them: the
//! system's resolver (`getaddrinfo`) asked for stream sockets of any
//! family with `AI_ADDRCONFIG`, which APR sets for an unspecified family.
//! So a name gives IPv6 addresses only where the system has an IPv6
//! address configured (loopback aside): `::1 localhost` in `/etc/hosts`
//! on a machine without IPv6 gives `127.0.0.1` alone, and the start does
//! not fail binding `[::1]`. An address the resolver gives that still
//! cannot be bound fails the start, as in Apache.
//!
//! The standard library's `ToSocketAddrs` does not set `AI_ADDRCONFIG`,
//! hence this small wrapper.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;

/// Every address `host` resolves to, in the resolver's order (duplicates
/// included). An error says why in the resolver's words.
pub fn lookup_host(host: &str) -> io::Result<Vec<IpAddr>> {
    let name = CString::new(host)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the name holds a NUL byte"))?;
    // SAFETY: `addrinfo` is a plain C struct of integers and pointers, for
    // which all-zero bytes are a valid value (null pointers); getaddrinfo
    // reads only the four hint fields set below.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_ADDRCONFIG;
    let mut list: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: `name` is a NUL-terminated string alive for the call, the
    // service may be null (a name is given), `hints` is initialised above
    // and `list` is a valid place for the result pointer.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), ptr::null(), &hints, &mut list) };
    if rc != 0 {
        if rc == libc::EAI_SYSTEM {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: gai_strerror returns a pointer to a static,
        // NUL-terminated message for any code.
        let why = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) };
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            why.to_string_lossy().to_lowercase(),
        ));
    }
    let mut found = Vec::new();
    let mut next = list;
    while !next.is_null() {
        // SAFETY: `next` is a node of the list getaddrinfo returned, not
        // yet freed (freed once below, after the walk).
        let ai = unsafe { &*next };
        if !ai.ai_addr.is_null() {
            match ai.ai_family {
                libc::AF_INET => {
                    // SAFETY: an AF_INET entry's `ai_addr` points to a
                    // `sockaddr_in` owned by the list.
                    let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                    // The address in network order, as its bytes lie.
                    let bytes = sin.sin_addr.s_addr.to_ne_bytes();
                    found.push(IpAddr::V4(Ipv4Addr::from(bytes)));
                }
                libc::AF_INET6 => {
                    // SAFETY: an AF_INET6 entry's `ai_addr` points to a
                    // `sockaddr_in6` owned by the list.
                    let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
                    found.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        next = ai.ai_next;
    }
    // SAFETY: `list` is what getaddrinfo returned (non-null on success),
    // freed once; no reference into it outlives this point.
    unsafe { libc::freeaddrinfo(list) };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_the_ipv4_loopback_among_loopbacks() {
        let addrs = lookup_host("localhost").unwrap();
        assert!(
            addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{addrs:?}"
        );
        assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
    }

    #[test]
    fn a_name_that_does_not_exist_is_an_error_in_the_resolvers_words() {
        let e = lookup_host("nosuch.invalid").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(!e.to_string().is_empty());
    }

    #[test]
    fn a_name_with_a_nul_byte_is_refused_before_the_resolver() {
        let e = lookup_host("local\0host").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
