//! Platform error responses: `{"code","message","detail"?}` with an HTTP status.

use serde_json::{json, Value};

/// An error the simulated platform answers with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) detail: Option<Value>,
}

impl ApiError {
    /// An error without `detail`.
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// 400 PARAM_ERROR pointing at one body field, like the platform's `detail` object.
    pub(crate) fn param(field: &str, value: &Value, issue: impl Into<String>) -> ApiError {
        ApiError::param_at(field, value, issue, "body")
    }

    /// 400 PARAM_ERROR pointing at a field in `location` (`body`, `url` or `query`).
    pub(crate) fn param_at(
        field: &str,
        value: &Value,
        issue: impl Into<String>,
        location: &str,
    ) -> ApiError {
        let issue = issue.into();
        ApiError {
            status: 400,
            code: "PARAM_ERROR",
            message: format!("参数错误：{issue}"),
            detail: Some(json!({
                "field": field,
                "value": value,
                "issue": issue,
                "location": location,
            })),
        }
    }

    /// 400 INVALID_REQUEST: well-formed but against a business rule.
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "INVALID_REQUEST", message)
    }

    /// 401 SIGN_ERROR.
    pub(crate) fn sign(message: impl Into<String>) -> ApiError {
        ApiError::new(401, "SIGN_ERROR", message)
    }

    /// 404 RESOURCE_NOT_EXISTS.
    pub(crate) fn not_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "RESOURCE_NOT_EXISTS", message)
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(detail) = &self.detail {
            body["detail"] = detail.clone();
        }
        body
    }
}
