//! One HTTP exchange with the API: TLS trust, authentication (API token, or ticket login with
//! renewal and CSRF on writes), form-encoded bodies, the `{"data": ...}` envelope and error
//! classification. No retries and no caching here. Secrets go only into sensitive headers; logs
//! carry method, path, status, duration and retry count, nothing else.

use std::time::Duration;

use http::header::{HeaderValue, AUTHORIZATION, COOKIE};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

use crate::config::{ClientConfig, Credentials, Secret};
use crate::error::{classify, from_reqwest, redirected, Error, Result};
use crate::tls;

/// What a path segment must not carry raw: anything that would end or restructure the path
/// (`/`, `?`, `#`, `%`), white space and controls. `:` stays, as sids are spelled with it.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'%')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'[')
    .add(b']');

/// One path segment, percent-encoded, so that a name like `a/b` or `..` stays one segment.
pub(crate) fn segment(raw: &str) -> String {
    match raw {
        // The URL parser would resolve these as directory steps.
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => percent_encoding::utf8_percent_encode(raw, SEGMENT).to_string(),
    }
}

/// A form-encoded request body, with the API's conventions for booleans and unsetting.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
    delete: Vec<String>,
}

impl Form {
    /// An empty form.
    pub(crate) fn new() -> Form {
        Form::default()
    }

    /// Sets a string value.
    pub(crate) fn set(&mut self, key: &str, value: impl ToString) -> &mut Form {
        self.pairs.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a value when present.
    pub(crate) fn set_opt(&mut self, key: &str, value: Option<impl ToString>) -> &mut Form {
        if let Some(v) = value {
            self.set(key, v);
        }
        self
    }

    /// Sets a boolean as the `1`/`0` the schema check accepts (form `true` is refused).
    pub(crate) fn set_bool(&mut self, key: &str, value: Option<bool>) -> &mut Form {
        if let Some(b) = value {
            self.set(key, if b { "1" } else { "0" });
        }
        self
    }

    /// Unsets a key (collected into one `delete=a,b` parameter).
    pub(crate) fn delete(&mut self, key: &str) -> &mut Form {
        if !self.delete.iter().any(|k| k == key) {
            self.delete.push(key.to_string());
        }
        self
    }

    /// The key/value pairs as sent, `delete` last.
    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        let mut out = self.pairs.clone();
        if !self.delete.is_empty() {
            out.push(("delete".to_string(), self.delete.join(",")));
        }
        out
    }

    /// The keys to unset.
    pub(crate) fn deleted(&self) -> &[String] {
        &self.delete
    }

    /// Whether nothing would be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.delete.is_empty()
    }

    fn encode(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            ser.append_pair(&k, &v);
        }
        ser.finish()
    }
}

/// One API request: method, path under `/api2/json`, query and body.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Option<Form>,
}

impl Request {
    /// A GET of `path` with a query.
    pub(crate) fn get(path: impl Into<String>, query: &[(&str, &str)]) -> Request {
        Request {
            method: Method::GET,
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            form: None,
        }
    }

    /// A write with a form body (POST/PUT) or query parameters (DELETE, which takes no body).
    pub(crate) fn write(method: Method, path: impl Into<String>, form: Form) -> Request {
        let path = path.into();
        if method == Method::DELETE {
            return Request {
                method,
                path,
                query: form.pairs(),
                form: None,
            };
        }
        Request {
            method,
            path,
            query: Vec::new(),
            form: Some(form),
        }
    }

    /// `METHOD /path`, as logged and as the simulator counts routes.
    pub(crate) fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A ticket and its CSRF token, with the time of login.
struct Session {
    ticket: Secret,
    csrf: Secret,
    obtained: Instant,
}

enum AuthState {
    Token {
        header: HeaderValue,
    },
    Ticket {
        username: String,
        password: Secret,
        session: Mutex<Option<Session>>,
    },
}

/// The HTTP layer: a reqwest client bound to one endpoint and one identity.
pub(crate) struct Transport {
    http: reqwest::Client,
    base: Url,
    auth: AuthState,
    renew_after: Duration,
    max_answer: u64,
    /// One permit per exchange on the wire, so that no burst of callers has more in flight.
    in_flight: Semaphore,
}

impl Transport {
    /// Validates the settings and builds the HTTP client; sends nothing. Answers larger than
    /// `max_answer` bytes (decompressed) fail instead of filling memory; at most `max_in_flight`
    /// exchanges (at least one) are on the wire at once, the others wait their turn.
    pub(crate) fn new(
        config: &ClientConfig,
        renew_after: Duration,
        max_answer: u64,
        max_in_flight: usize,
    ) -> Result<Transport> {
        let parsed = config.parse()?;
        if parsed.base.scheme() == "http" {
            tracing::warn!(
                "the endpoint is plain http (allow_insecure_http): the credentials cross the network unencrypted"
            );
        }
        let tls = tls::client_config(&parsed, config.insecure)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // A redirect would carry the token, password or ticket to wherever it points,
            // in clear text for an http:// target; a 3xx becomes an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            // Covers TCP connect and the TLS handshake; the read timeout covers a server that
            // accepts the request and then never sends its headers or stalls mid-body.
            .connect_timeout(config.timeout)
            .read_timeout(config.timeout)
            .no_proxy()
            .user_agent(concat!("pveha/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config("endpoint", format!("cannot build an HTTP client: {e}")))?;
        let auth = match parsed.credentials {
            Credentials::Token { header } => AuthState::Token {
                header: sensitive(header.expose())?,
            },
            Credentials::Password { username, password } => AuthState::Ticket {
                username,
                password,
                session: Mutex::new(None),
            },
        };
        Ok(Transport {
            http,
            base: parsed.base,
            auth,
            renew_after,
            max_answer,
            in_flight: Semaphore::new(max_in_flight.max(1)),
        })
    }

    /// Sends one request (logging in first when the ticket is missing or due for renewal) and
    /// returns the envelope's `data`. A ticket the server no longer accepts is renewed once.
    pub(crate) async fn send(&self, req: &Request, retry: u32) -> Result<Value> {
        let mut fresh_login = false;
        let first = self.send_authenticated(req, retry, &mut fresh_login).await;
        // A ticket the server refuses although we did not just get it (expired early, server
        // restarted with new keys) is worth one new login; a refused login is not.
        match first {
            Err(Error::Unauthorized { .. }) if !fresh_login && self.drop_session().await => {
                self.send_authenticated(req, retry, &mut fresh_login).await
            }
            other => other,
        }
    }

    async fn send_authenticated(
        &self,
        req: &Request,
        retry: u32,
        fresh_login: &mut bool,
    ) -> Result<Value> {
        let mut headers = http::HeaderMap::new();
        match &self.auth {
            AuthState::Token { header } => {
                headers.insert(AUTHORIZATION, header.clone());
            }
            AuthState::Ticket {
                username,
                password,
                session,
            } => {
                let (ticket, csrf, fresh) = match self.ticket(username, password, session).await {
                    Ok(t) => t,
                    Err(e) => {
                        // The login itself failed: logging in again would not help.
                        *fresh_login = true;
                        return Err(e);
                    }
                };
                *fresh_login = fresh;
                let cookie = format!(
                    "PVEAuthCookie={}",
                    percent_encoding::utf8_percent_encode(
                        ticket.expose(),
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                headers.insert(COOKIE, sensitive(&cookie)?);
                if req.method != Method::GET {
                    headers.insert("CSRFPreventionToken", sensitive(csrf.expose())?);
                }
            }
        }
        self.exchange(req, headers, retry).await
    }

    /// Forgets the ticket so the next request logs in again; false for token auth.
    async fn drop_session(&self) -> bool {
        match &self.auth {
            AuthState::Token { .. } => false,
            AuthState::Ticket { session, .. } => {
                session.lock().await.take();
                true
            }
        }
    }

    /// The current ticket and CSRF token, logging in when there is none or it is due for renewal;
    /// the flag tells whether this call logged in.
    async fn ticket(
        &self,
        username: &str,
        password: &Secret,
        session: &Mutex<Option<Session>>,
    ) -> Result<(Secret, Secret, bool)> {
        let mut guard = session.lock().await;
        if let Some(s) = guard.as_ref() {
            if s.obtained.elapsed() < self.renew_after {
                return Ok((s.ticket.clone(), s.csrf.clone(), false));
            }
        }
        let mut form = Form::new();
        form.set("username", username)
            .set("password", password.expose());
        let login = Request::write(Method::POST, "/access/ticket", form);
        let data = self.exchange(&login, http::HeaderMap::new(), 0).await?;
        let field = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .map(Secret::new)
                .ok_or_else(|| Error::Decode {
                    path: "/access/ticket".into(),
                    message: format!("the login answer has no {name}"),
                })
        };
        let (ticket, csrf) = (field("ticket")?, field("CSRFPreventionToken")?);
        tracing::debug!(username, "logged in with a new ticket");
        *guard = Some(Session {
            ticket: ticket.clone(),
            csrf: csrf.clone(),
            obtained: Instant::now(),
        });
        Ok((ticket, csrf, true))
    }

    async fn exchange(&self, req: &Request, headers: http::HeaderMap, retry: u32) -> Result<Value> {
        let mut url = self.base.clone();
        // Path segments (sids, node names) are ours or the server's, never free text, but they
        // still go through the URL parser so nothing odd can change the route.
        url.set_path(&format!("{}{}", self.base.path(), req.path));
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .headers(headers)
            .header(http::header::ACCEPT_ENCODING, "gzip");
        if let Some(form) = &req.form {
            builder = builder
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.encode());
        }
        // Held until the answer is read; the semaphore is never closed, so a permit always comes.
        let _permit = self.in_flight.acquire().await.ok();
        let started = Instant::now();
        let result = self.read_answer(builder, req).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok((status, _)) => tracing::debug!(
                method = %req.method, path = %req.path, status, duration_ms, retry, "api request"
            ),
            Err(e) => tracing::debug!(
                method = %req.method, path = %req.path, duration_ms, retry, error = %e, "api request failed"
            ),
        }
        result.map(|(_, v)| v)
    }

    async fn read_answer(
        &self,
        builder: reqwest::RequestBuilder,
        req: &Request,
    ) -> Result<(u16, Value)> {
        let response = builder.send().await.map_err(|e| from_reqwest(&e))?;
        let status = response.status().as_u16();
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| response.status().canonical_reason().map(str::to_string))
            .unwrap_or_default();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            return Err(redirected(status, location));
        }
        let body = self.read_body(response, req).await?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &reason, &body));
        }
        let envelope: Value = serde_json::from_slice(&body).map_err(|e| Error::Decode {
            path: req.path.clone(),
            message: format!("the body is not JSON ({e})"),
        })?;
        match envelope {
            Value::Object(mut map) => Ok((status, map.remove("data").unwrap_or(Value::Null))),
            _ => Err(Error::Decode {
                path: req.path.clone(),
                message: "the body is not a {\"data\": ...} envelope".into(),
            }),
        }
    }

    /// Reads the body chunk by chunk (decompressed), failing as soon as it outgrows the limit, so a
    /// small gzip of a huge body cannot exhaust memory.
    async fn read_body(&self, mut response: reqwest::Response, req: &Request) -> Result<Vec<u8>> {
        let too_large = || Error::TooLarge {
            path: req.path.clone(),
            limit: self.max_answer,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_answer)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| from_reqwest(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_answer {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::config(
            "api_token",
            "contains characters that cannot go into an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_send_booleans_as_digits_and_one_delete_list() {
        let mut f = Form::new();
        f.set("nodes", "a:2,b")
            .set_bool("restricted", Some(true))
            .set_bool("nofailback", Some(false))
            .set_bool("skip", None)
            .delete("comment")
            .delete("comment")
            .delete("state");
        assert_eq!(
            f.encode(),
            "nodes=a%3A2%2Cb&restricted=1&nofailback=0&delete=comment%2Cstate"
        );
    }

    #[test]
    fn segments_cannot_escape_their_place_in_the_path() {
        assert_eq!(segment("a/b"), "a%2Fb");
        assert_eq!(segment("../x?y#z"), "..%2Fx%3Fy%23z");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("vm:100"), "vm:100");
        assert_eq!(segment("100%"), "100%25");
    }

    #[test]
    fn delete_requests_carry_their_parameters_in_the_query() {
        let mut f = Form::new();
        f.set("purge", "0");
        let r = Request::write(Method::DELETE, "/cluster/ha/resources/ct:110", f);
        assert!(r.form.is_none());
        assert_eq!(r.query, [("purge".to_string(), "0".to_string())]);
        assert_eq!(r.route(), "DELETE /cluster/ha/resources/ct:110");
    }
}
