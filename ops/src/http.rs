//! A small HTTP/1.1 server on hyper 1.x: each request is read whole (within
//! a limit) and handed to a blocking handler on tokio's blocking pool,
//! since every answer asks the packet workers.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted (a configuration is the largest thing
/// anyone sends).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Most connections served at once per listener; more wait in the backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// A request, read whole.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (without `?`), possibly empty.
    pub query: String,
    /// `Authorization: Bearer …`, if sent.
    pub bearer: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// A JSON answer.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json",
                body,
            },
            Err(e) => Response::text(500, format!("cannot encode the answer: {e}\n")),
        }
    }
}

/// A blocking request handler.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(r.content_type),
    );
    resp
}

async fn handle(
    req: hyper::Request<Incoming>,
    handler: Handler,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(to_hyper(Response::text(
                413,
                format!("request body over {MAX_REQUEST_BYTES} bytes or unreadable\n"),
            )));
        }
    };
    let bearer = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        bearer,
        body,
    };
    let answer = tokio::task::spawn_blocking(move || handler(request))
        .await
        .unwrap_or_else(|_| Response::text(500, "the handler failed\n"));
    Ok(to_hyper(answer))
}

/// Serve `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, handler: Handler, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("ops listener: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, handler.clone()));
            let conn = http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), svc);
            // A client that hangs up mid-request is its own business.
            let _ = conn.await;
            drop(permit);
        });
    }
}

/// Split a query string into decoded `(key, value)` pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a query value (everything but unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            query_pairs("address=2001%3Adb8%3A%3A1&port=80&count"),
            vec![
                ("address".into(), "2001:db8::1".into()),
                ("port".into(), "80".into()),
                ("count".into(), "".into())
            ]
        );
        assert_eq!(query_pairs(""), vec![]);
        assert_eq!(query_pairs("a=%zz%4"), vec![("a".into(), "%zz%4".into())]);
        assert_eq!(percent_encode("2001:db8::1"), "2001%3Adb8%3A%3A1");
        let round = query_pairs(&format!("x={}", percent_encode("a b&c=d/é")));
        assert_eq!(round[0].1, "a b&c=d/é");
    }
}
