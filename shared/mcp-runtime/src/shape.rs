//! Step 3, "is it well-formed", before the tool's own checks: the arguments are compared with
//! the tool's input schema, so a wrong type, a missing field or a misspelt one gets an error
//! naming the field ("invalid employee_count: expected an integer, got the string \"five\"")
//! instead of serde's anonymous "invalid type". Only the top level is checked here; nested
//! values are checked by the typed parameters and the tool.

use serde_json::{Map, Value};

/// What is wrong with a call's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// For the caller: the field, what was expected, what was given.
    pub message: String,
    /// For the audit log: the same without the caller's values, which may be personal data.
    pub detail: String,
}

/// Why `arguments` do not fit `schema`, or `None` when their top level does.
pub fn problem(schema: &Map<String, Value>, arguments: &Map<String, Value>) -> Option<Problem> {
    let message = message(schema, arguments)?;
    let detail = match message.split_once(':') {
        Some((head, _)) if head.starts_with("invalid ") => head.to_string(),
        _ => "unknown argument".to_string(),
    };
    Some(Problem { message, detail })
}

fn message(schema: &Map<String, Value>, arguments: &Map<String, Value>) -> Option<String> {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, value) in arguments {
        let Some(property) = properties.get(name) else {
            let shown: String = name.chars().take(64).filter(|c| !c.is_control()).collect();
            let known: Vec<&str> = properties.keys().map(String::as_str).collect();
            return Some(if known.is_empty() {
                format!("unknown argument {shown:?}: this tool takes no arguments")
            } else {
                format!(
                    "unknown argument {shown:?}; this tool takes: {}",
                    known.join(", ")
                )
            });
        };
        if let Some(expected) = allowed_types(property)
            && !expected.iter().any(|t| fits(t, value))
        {
            return Some(format!(
                "invalid {name}: expected {}, got {}",
                expected
                    .iter()
                    .filter(|t| **t != "null")
                    .map(|t| article(t))
                    .collect::<Vec<_>>()
                    .join(" or "),
                describe(value)
            ));
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !arguments.contains_key(required) {
            return Some(format!("invalid {required}: it is missing and required"));
        }
    }
    None
}

fn allowed_types(property: &Value) -> Option<Vec<&str>> {
    match property.get("type")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn fits(json_type: &str, value: &Value) -> bool {
    match json_type {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn article(json_type: &str) -> String {
    match json_type {
        "integer" => "an integer".into(),
        "array" => "an array".into(),
        "object" => "an object".into(),
        other => format!("a {other}"),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).filter(|c| !c.is_control()).collect();
            format!("the string {shown:?}")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "employee_count": {"type": "integer"},
                "owner": {"type": ["string", "null"]},
                "signals": {"anyOf": [{"$ref": "#/$defs/Signals"}, {"type": "null"}]}
            },
            "required": ["employee_count"]
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_wrong_type_a_missing_field_and_a_misspelt_one_are_named() {
        let args = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            problem(&schema(), &args(json!({"employee_count": "five"})))
                .unwrap()
                .message,
            "invalid employee_count: expected an integer, got the string \"five\""
        );
        assert!(
            problem(&schema(), &args(json!({})))
                .unwrap()
                .message
                .contains("missing")
        );
        assert!(
            problem(&schema(), &args(json!({"employee_count": 5, "ownr": "x"})))
                .unwrap()
                .message
                .contains("unknown argument \"ownr\"")
        );
        assert_eq!(
            problem(
                &schema(),
                &args(json!({"employee_count": 5, "owner": null, "signals": {}}))
            ),
            None
        );
        assert!(
            problem(&schema(), &args(json!({"employee_count": 5.5})))
                .unwrap()
                .detail
                .contains("invalid employee_count")
        );
    }
}
