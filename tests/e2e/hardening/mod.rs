//! The security issue's holes, each tried the way an attacker would, against the real
//! binary: bodies and memory, password guessing, revocation races, query shapes.

mod bodies;
mod outbound;
mod passwords;
mod queries;
mod races;
mod share_paths;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a POST whose body streams `total` bytes with chunked encoding (no length for
/// the server to refuse up front), reading the answer as soon as it comes. Returns the
/// status line's code, or 0 when the server closed the connection without answering.
pub async fn stream_post(base: &str, path: &str, headers: &[(&str, &str)], total: usize) -> u16 {
    let addr = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            wr.write_all(&chunk[..n]).await?;
            wr.write_all(b"\r\n").await?;
            sent += n;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        Ok::<_, std::io::Error>(())
    });
    let mut buf = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(120), rd.read(&mut buf)).await;
    writer.abort();
    match read {
        Ok(Ok(n)) if n > 12 => std::str::from_utf8(&buf[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}
