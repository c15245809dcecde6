//! The text rules every definition follows: identifiers (block ids, ports, datasets,
//! tab and tile ids, which become SQL table names) and `${parameter}` substitution in
//! configurations. A leaf: workflows, reports, blocks and plugins all use it.

use std::collections::BTreeMap;

use serde_json::Value;

pub use vitrine_core::report::check_ident;

/// Replaces `${name}` in every string of `v` with the parameter's value; `$${` stands for
/// a literal `${`. An unknown name is an error naming the field that uses it.
pub fn substitute(
    v: &Value,
    params: &BTreeMap<String, String>,
    path: &str,
) -> Result<Value, (String, String)> {
    Ok(match v {
        Value::String(s) => {
            Value::String(substitute_str(s, params).map_err(|r| (path.to_owned(), r))?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| substitute(x, params, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, params, &format!("{path}.{k}"))?)))
                .collect::<Result<_, (String, String)>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute_str(s: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let Some(end) = t.find('}') else {
                return Err("a `${` without its closing `}`".into());
            };
            let name = &t[..end];
            match params.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(format!("unknown parameter `{name}`")),
            }
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}
