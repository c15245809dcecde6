//! A Vitrine block that pulls structure out of text: each named capture group of a
//! regular expression becomes a text column. Rows whose text does not match go to a
//! second output, `unmatched`, so nothing is silently lost.

use regex::Regex;
use vitrine_sdk::{
    Block, Column, Error, Inputs, Metadata, Outputs, Port, Table, Value, Values, json,
};

struct RegexExtract;

impl Block for RegexExtract {
    fn describe() -> Metadata {
        Metadata::new(
            "regex-extract",
            env!("CARGO_PKG_VERSION"),
            "Extracts the named capture groups of a regular expression into text columns",
        )
        .config_schema(json!({
            "type": "object",
            "properties": {
                "column": {"type": "string", "minLength": 1,
                           "description": "the text column to match"},
                "pattern": {"type": "string", "minLength": 1,
                            "description": "a regular expression with named groups, e.g. (?P<user>\\w+)@(?P<domain>.+)"}
            },
            "required": ["column", "pattern"],
            "additionalProperties": false
        }))
        .input(Port::new("in", "rows with a text column"))
        .output(Port::new("out", "matching rows, with one column per named group"))
        .output(Port::new("unmatched", "rows whose text did not match, unchanged"))
    }

    fn transform(config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let column = config["column"].as_str().unwrap_or_default();
        let pattern = config["pattern"].as_str().unwrap_or_default();
        let re = Regex::new(pattern).map_err(|e| {
            Error::InvalidConfig(format!("`pattern` is not a regular expression: {e}"))
        })?;
        let groups: Vec<&str> = re.capture_names().flatten().collect();
        if groups.is_empty() {
            return Err(Error::InvalidConfig(
                "`pattern` has no named groups such as (?P<name>...); each becomes a column".into(),
            ));
        }
        let table = inputs.table("in")?;
        let texts = table.column(column)?.texts()?;

        let mut matched = Vec::new();
        let mut unmatched = Vec::new();
        let mut extracted: Vec<Vec<Option<String>>> = vec![Vec::new(); groups.len()];
        for (row, text) in texts.iter().enumerate() {
            match text.and_then(|t| re.captures(t)) {
                Some(caps) => {
                    matched.push(row);
                    for (g, name) in groups.iter().enumerate() {
                        extracted[g].push(caps.name(name).map(|m| m.as_str().to_owned()));
                    }
                }
                None => unmatched.push(row),
            }
        }
        let mut out = take(table, &matched)?;
        for (name, values) in groups.iter().zip(extracted) {
            out = out.with_column(Column::from_texts(*name, values))?;
        }
        Ok(Outputs::new()
            .table("out", out)
            .table("unmatched", take(table, &unmatched)?))
    }
}

/// The rows of `table` at `rows`, in that order.
fn take(table: &Table, rows: &[usize]) -> Result<Table, Error> {
    let mut out = Table::new(rows.len());
    for c in table.columns() {
        let values = match &c.values {
            Values::Boolean(v) => Values::Boolean(rows.iter().map(|&r| v[r]).collect()),
            Values::Int64(v) => Values::Int64(rows.iter().map(|&r| v[r]).collect()),
            Values::Float64(v) => Values::Float64(rows.iter().map(|&r| v[r]).collect()),
            Values::Text(v) => Values::Text(rows.iter().map(|&r| &v[r]).collect()),
            Values::Date(v) => Values::Date(rows.iter().map(|&r| v[r]).collect()),
            Values::Timestamp(v) => Values::Timestamp(rows.iter().map(|&r| v[r]).collect()),
        };
        let validity = c
            .validity
            .as_ref()
            .map(|v| rows.iter().map(|&r| v[r]).collect());
        out = out.with_column(Column {
            name: c.name.clone(),
            values,
            validity,
        })?;
    }
    Ok(out)
}

vitrine_sdk::export_block!(RegexExtract);
