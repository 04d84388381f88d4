//! The one place where simulator failures become Proxmox VE API responses: status, reason phrase and envelope.
//! Handlers return `ApiError`; they never build response bodies for errors themselves.

use std::collections::BTreeMap;

/// An error answer as the real `pve-api-daemon` sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (400, 401, 500, 501, 595 ...).
    pub status: u16,
    /// The full message; its first line is the reason phrase.
    pub message: String,
    /// Per-parameter errors (400 answers).
    pub errors: Option<BTreeMap<String, String>>,
    /// Send no body at all (401 answers and 595 proxy failures).
    pub empty_body: bool,
}

impl ApiError {
    /// A plain `die` in a handler: 500 with the text.
    pub fn fail(message: impl Into<String>) -> Self {
        Self::with_status(500, message)
    }

    /// An error with an explicit status code and a JSON envelope.
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: None,
            empty_body: false,
        }
    }

    /// `400 Parameter verification failed.` with the per-parameter messages.
    pub fn params(errors: BTreeMap<String, String>) -> Self {
        ApiError {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors: Some(errors),
            empty_body: false,
        }
    }

    /// A 400 naming one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(name.to_string(), message.into());
        Self::params(errors)
    }

    /// A 401 with the real status line and an empty body.
    pub fn unauthorized(reason: &str) -> Self {
        ApiError {
            status: 401,
            message: reason.into(),
            errors: None,
            empty_body: true,
        }
    }

    /// A 595 as pveproxy answers when the node a request is proxied to cannot be reached.
    pub fn unreachable() -> Self {
        ApiError {
            status: 595,
            message: "No route to host".into(),
            errors: None,
            empty_body: true,
        }
    }

    /// 501 for a path or method the API does not have.
    pub fn not_implemented(method: &str, path: &str) -> Self {
        Self::with_status(501, format!("Method '{method} {path}' not implemented"))
    }

    /// The HTTP reason phrase: the first line of the message, as the real server sends it.
    pub fn reason(&self) -> String {
        let line = self.message.lines().next().unwrap_or("").trim_end();
        // A reason phrase may not carry control characters; the real server's messages never do.
        line.chars().filter(|c| !c.is_control()).collect()
    }

    /// The JSON body (`None` for the empty-body answers).
    pub fn body(&self) -> Option<serde_json::Value> {
        if self.empty_body {
            return None;
        }
        let mut msg = self.message.clone();
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        let mut obj = serde_json::Map::new();
        obj.insert("data".into(), serde_json::Value::Null);
        obj.insert("message".into(), serde_json::Value::String(msg));
        if let Some(errors) = &self.errors {
            let map = errors
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            obj.insert("errors".into(), serde_json::Value::Object(map));
        }
        Some(serde_json::Value::Object(obj))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason())
    }
}

impl std::error::Error for ApiError {}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_first_line_and_body_ends_with_newline() {
        let e = ApiError::fail("no such resource 'vm:9'\nmore");
        assert_eq!(e.reason(), "no such resource 'vm:9'");
        let body = e.body().unwrap_or_default();
        assert_eq!(body["message"], "no such resource 'vm:9'\nmore\n");
        assert!(body["data"].is_null());
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn unauthorized_has_no_body() {
        assert!(ApiError::unauthorized("No ticket").body().is_none());
    }
}
