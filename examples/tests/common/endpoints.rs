//! Talking to a running pipeline's monitoring endpoints.

use beam_core::{DoFn, ProcessContext, UserResult};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Counts every element (user counter `seen`), in a step of its own.
#[derive(Clone)]
pub struct Seen;

impl DoFn for Seen {
    type In = u64;
    type Out = u64;
    fn process(&mut self, x: &u64, ctx: &mut ProcessContext<'_, u64>) -> UserResult {
        ctx.metrics().inc_counter("seen", 1);
        ctx.output(*x);
        Ok(())
    }
}

/// A local address with a port free right now.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A plain HTTP/1.1 request; the status line and the body.
pub fn try_http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

/// `GET path`; the body, if the server answered 200.
pub fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let (status, body) = try_http(addr, "GET", path).ok()?;
    status.starts_with("HTTP/1.1 200").then_some(body)
}
