//! Bounds on the shape of definitions. Workflows, reports and tasks arrive as JSON and
//! are stored, diffed, planned and evaluated by code that recurses over their nesting;
//! bounding the nesting on the way in keeps every later step within its stack.

use serde_json::Value;

/// How deep a stored definition may nest (objects and arrays). Real definitions nest
/// fewer than ten levels.
pub const MAX_DEFINITION_DEPTH: usize = 32;

/// The deepest nesting of `v`, counted without recursion; stops once past `max`.
pub fn json_depth(v: &Value, max: usize) -> usize {
    let mut stack = vec![(v, 1usize)];
    let mut deepest = 0;
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        if deepest > max {
            break;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Refuses a definition nested deeper than [`MAX_DEFINITION_DEPTH`].
pub fn check_definition_depth(field: &'static str, v: &Value) -> Result<(), crate::CoreError> {
    if json_depth(v, MAX_DEFINITION_DEPTH) > MAX_DEFINITION_DEPTH {
        return Err(crate::CoreError::new(
            field,
            format!("nests deeper than {MAX_DEFINITION_DEPTH} levels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_without_recursion() {
        assert_eq!(json_depth(&serde_json::json!(1), 10), 1);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": 2}]}), 10), 4);
        let mut v = serde_json::json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert!(json_depth(&v, MAX_DEFINITION_DEPTH) > MAX_DEFINITION_DEPTH);
        assert!(check_definition_depth("definition", &v).is_err());
        // Dropping a value this deep recurses too: leak it (the test ends right after).
        std::mem::forget(v);
    }
}
