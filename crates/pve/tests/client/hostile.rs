//! The client against servers that misbehave on purpose: tiny loopback HTTP servers that redirect
//! the credentials elsewhere, send a gzip bomb, or never answer. Each records what it received, so
//! a test can prove that nothing secret was sent on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pveha_pve::ha::groups;
use pveha_pve::{Auth, Client, ClientConfig, ClientOptions, Error, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::options;

const SECRET: &str = "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";
const PASSWORD: &str = "hunter2-password";
const TICKET: &str = "PVE:root@pam:TICKET-SECRET";

/// What one loopback server was sent: every request head and body, as text.
type Log = Arc<Mutex<Vec<String>>>;

/// Serves `answer(request text)` to every connection on a fresh loopback port, one request per
/// connection; returns the base URL and the log of requests.
async fn serve(answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let request = read_request(&mut socket).await;
                seen.lock().unwrap().push(request.clone());
                let _ = socket.write_all(&answer(&request)).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, log)
}

/// Reads one request head and its `Content-Length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn plain_http(base: &str, auth: Auth) -> Client {
    let mut cfg = ClientConfig::new(base, auth);
    cfg.allow_insecure_http = true;
    cfg.timeout = Duration::from_secs(10);
    Client::with_options(&cfg, options()).unwrap()
}

/// A server that logs in anyone (handing out [`TICKET`]) and redirects every other request to
/// `target`, with a `307` that keeps method and body.
async fn redirecting_to(target: &str, redirect_login: bool) -> (String, Log) {
    let target = target.to_string();
    serve(move |request| {
        let is_login = request.starts_with("POST /api2/json/access/ticket");
        if is_login && !redirect_login {
            let body = format!(r#"{{"data":{{"ticket":"{TICKET}","CSRFPreventionToken":"csrf-secret","username":"root@pam"}}}}"#);
            return response("200 OK", &[("content-type", "application/json")], body.as_bytes());
        }
        let location = format!("{target}/api2/json/version?ticket=in-the-query");
        response("307 Temporary Redirect", &[("location", &location)], b"")
    })
    .await
}

#[tokio::test]
async fn a_redirect_never_carries_the_token_password_or_ticket_to_its_target() {
    let (target, received) = serve(|_| response("200 OK", &[], br#"{"data":{}}"#)).await;
    let cases = [
        (Auth::token(format!("root@pam!terraform={SECRET}")), false),
        (Auth::password("root@pam", PASSWORD), true),
        (Auth::password("root@pam", PASSWORD), false),
    ];
    for (auth, redirect_login) in cases {
        let (origin, sent) = redirecting_to(&target, redirect_login).await;
        let client = plain_http(&origin, auth);
        let err = groups::create(
            &client,
            &groups::NewHaGroup {
                group: "web".into(),
                nodes: "pve1".parse().unwrap(),
                restricted: None,
                nofailback: None,
                comment: None,
            },
        )
        .await
        .unwrap_err();
        match &err {
            Error::Redirected {
                status: 307,
                location,
            } => {
                assert!(location.starts_with(&target), "{location}");
                assert!(!location.contains("in-the-query"), "{location}");
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
        let origin_saw = sent.lock().unwrap().join("\n");
        let secret_sent = origin_saw.contains(SECRET)
            || origin_saw.contains("hunter2")
            || origin_saw.contains("TICKET-SECRET");
        assert!(
            secret_sent,
            "positive control: the origin got the credentials"
        );
    }
    assert!(
        received.lock().unwrap().is_empty(),
        "the redirect target received {:?}",
        received.lock().unwrap()
    );
}

#[tokio::test]
async fn a_redirect_location_with_credentials_is_named_without_them() {
    let (origin, _) = serve(|_| {
        response(
            "302 Found",
            &[("location", "http://user:leaked@elsewhere.example/api2/json")],
            b"",
        )
    })
    .await;
    let client = plain_http(&origin, Auth::token(format!("root@pam!terraform={SECRET}")));
    let err = client.version().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Redirected { status: 302, .. }),
        "{err:?}"
    );
    assert!(
        text.contains("elsewhere.example") && !text.contains("leaked"),
        "{text}"
    );
}

#[tokio::test]
async fn a_gzip_bomb_fails_with_a_size_error_before_it_is_inflated() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    const HUGE: usize = 64 << 20;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(br#"{"data":""#).unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..HUGE / zeros.len() {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(br#""}"#).unwrap();
    let bomb = Arc::new(gz.finish().unwrap());
    assert!(
        bomb.len() < HUGE / 100,
        "a small answer: {} bytes",
        bomb.len()
    );
    let body = bomb.clone();
    let (origin, _) = serve(move |_| {
        response(
            "200 OK",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            &body,
        )
    })
    .await;
    let mut cfg = ClientConfig::new(&origin, Auth::token(format!("root@pam!terraform={SECRET}")));
    cfg.allow_insecure_http = true;
    let limit = 8 << 20;
    let small = Client::with_options(
        &cfg,
        ClientOptions {
            max_answer_bytes: limit,
            ..options()
        },
    )
    .unwrap();
    let err = small.version().await.unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            path: "/version".into(),
            limit
        }
    );
    // Positive control: with room for it, the same answer is read (and is not a version).
    let roomy = Client::with_options(
        &cfg,
        ClientOptions {
            max_answer_bytes: 2 * HUGE as u64,
            ..options()
        },
    )
    .unwrap();
    let read = roomy.version().await.unwrap_err();
    assert!(matches!(read, Error::Decode { .. }), "{read:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    // Accepts connections and holds them open without a TLS handshake or any byte.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut cfg = ClientConfig::new(&base, Auth::token(format!("root@pam!terraform={SECRET}")));
    cfg.timeout = Duration::from_millis(300);
    let client = Client::with_options(
        &cfg,
        ClientOptions {
            retry: pveha_pve::RetryPolicy {
                max_attempts: 1,
                ..options().retry
            },
            ..options()
        },
    )
    .unwrap();
    let err = client.version().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout | TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    held.abort();
}

#[tokio::test]
async fn plain_http_is_refused_without_the_opt_in() {
    let cfg = ClientConfig::new(
        "http://127.0.0.1:8006",
        Auth::token(format!("root@pam!terraform={SECRET}")),
    );
    let err = Client::new(&cfg).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                setting: "endpoint",
                ..
            }
        ),
        "{err:?}"
    );
}
