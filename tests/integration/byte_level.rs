//! Scripted servers that misbehave at the byte level: the read path keeps its memory bounded, gives an
//! error verdict that says why, and sends a request twice only when a kept-alive connection
//! had been closed under it.
//!
//! Each test runs its own tiny server on 127.0.0.1 (a tokio listener with a scripted answer
//! per connection), so that the exact bytes and the exact connection behaviour are known.

use crate::support::TempDir;
use llmspec_core::run::http::{self, Outgoing, ReadOptions, TlsOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a scripted connection does with each request it reads.
#[derive(Clone, Copy)]
enum Reply {
    /// Answers with this body and keeps the connection open.
    Answer(&'static [u8]),
    /// Closes the connection without answering.
    Close,
}

/// A server whose n-th connection plays `script[n]` (the last script repeats); returns its
/// address and the number of connections accepted so far.
async fn scripted(scripts: Vec<Vec<Reply>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let script = scripts[n.min(scripts.len() - 1)].clone();
            tokio::spawn(play(socket, script));
        }
    });
    (url, accepted)
}

async fn play(mut socket: TcpStream, script: Vec<Reply>) {
    for reply in script {
        if !read_request(&mut socket).await {
            return;
        }
        match reply {
            Reply::Close => return,
            Reply::Answer(body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if socket.write_all(head.as_bytes()).await.is_err() || socket.write_all(body).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request (headers and a content-length body); false when the client went away.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while seen.len() < end + 4 + length {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            return true;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

fn post(url: &str) -> Outgoing {
    Outgoing {
        method: reqwest::Method::POST,
        url: format!("{url}/v1/chat/completions"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(b"{}".to_vec().into()),
        timeout: Duration::from_secs(5),
        read: ReadOptions::default(),
    }
}

#[tokio::test]
async fn a_fresh_connection_dropped_before_answering_is_an_error_not_a_resend() {
    let (url, accepted) = scripted(vec![vec![Reply::Close]]).await;
    let client = http::client(&TlsOptions::default()).unwrap();
    let result = http::exchange(&client, &post(&url)).await;
    let error = result.expect_err("a server that drops a fresh connection gets an error").0;
    assert!(error.contains("connection closed before message completed"), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "sent once, on one connection");
}

#[tokio::test]
async fn a_kept_alive_connection_closed_under_a_request_is_resent_and_says_so() {
    // The first connection answers one request, then closes when the next one arrives (as a
    // server closing idle connections does, when the close and the request cross).
    let (url, accepted) =
        scripted(vec![vec![Reply::Answer(b"{\"n\":1}"), Reply::Close], vec![Reply::Answer(b"{\"n\":2}")]]).await;
    let client = http::client(&TlsOptions::default()).unwrap();
    let first = http::exchange(&client, &post(&url)).await.unwrap();
    assert_eq!(first.resent, None);
    let second = http::exchange(&client, &post(&url)).await.unwrap();
    assert_eq!(second.body, "{\"n\":2}");
    let why = second.resent.expect("the resend is recorded");
    assert!(why.contains("kept-alive connection") && why.contains("closed"), "{why}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_an_error_with_the_offset() {
    let (url, _) = scripted(vec![vec![Reply::Answer(b"{\"a\":\"caf\xe9\"}")]]).await;
    let client = http::client(&TlsOptions::default()).unwrap();
    let error = http::exchange(&client, &post(&url)).await.expect_err("not UTF-8").0;
    assert!(error.contains("not valid UTF-8 at byte 9"), "{error}");
}

/// A server that streams chunks carrying output as fast as it can, forever (until the client
/// goes away).
async fn endless_stream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if !read_request(&mut socket).await {
                    return;
                }
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head).await.is_err() {
                    return;
                }
                let event = b"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token \"},\"finish_reason\":null}]}\n\n";
                let events: Vec<u8> = event.iter().copied().cycle().take(event.len() * 400).collect();
                let mut chunk = format!("{:x}\r\n", events.len()).into_bytes();
                chunk.extend_from_slice(&events);
                chunk.extend_from_slice(b"\r\n");
                while socket.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    url
}

/// The peak resident memory of a running process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The binary keeps its memory bounded against an endless fast stream, until the test's
/// timeout gives it an error verdict. `LLMSPEC_ENDLESS_SECS` sets the timeout (3 s by
/// default; the figure in docs/security.md is for 30 s).
#[test]
fn an_endless_fast_stream_is_read_in_bounded_memory() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(endless_stream());
    let secs: u64 = std::env::var("LLMSPEC_ENDLESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = TempDir::new();
    let spec = dir.write(
        "endless.yaml",
        &format!(
            "suite: endless\ntests:\n  - name: endless\n    request:\n      POST: /v1/chat/completions\n      timeout: {secs}s\n      stream: true\n      json: {{ messages: [{{ role: user, content: hi }}] }}\n    expect:\n      status: 200\n      events:\n        $[0].choices[0].delta.content: \"token \"\n"
        ),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(["run", spec.to_str().unwrap(), "--base-url", &url])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak_kb = 0;
    // Sampled until the process exits; VmHWM is the high-water mark, so the last sample is the
    // peak up to a few milliseconds before the end.
    for _ in 0..(secs * 20 + 600) {
        match child.try_wait().unwrap() {
            Some(_) => break,
            None => {
                peak_kb = peak_kb.max(peak_rss_kb(child.id()).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("peak RSS against an endless stream for {secs}s: {} MiB", peak_kb / 1024);
    assert!(stdout.contains("ERROR endless"), "{stdout}");
    assert!(stdout.contains("did not finish within"), "{stdout}");
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
}
