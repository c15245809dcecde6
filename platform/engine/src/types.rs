//! Column types as authors write them in configuration, and schemas as the API shows them.
//!
//! One vocabulary throughout, the plugin contract's: `text`, `int64`, `float64`,
//! `boolean`, `date`, `timestamp`; types outside it by their exact lowercase names
//! (`int32`, `float32`, `decimal`). The words of earlier versions (`string`, `integer`,
//! `float`) are still read: in column declarations for one more version, and in schemas
//! stored before.

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Written `text`; `string` is read too, deprecated.
    #[serde(alias = "string")]
    Text,
    Int64,
    Float64,
    Boolean,
    Date,
    Timestamp,
}

impl ColumnType {
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }
}

/// One column of a dataset's schema as stored and shown: name, a readable type, nullable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type", deserialize_with = "type_word")]
    pub ty: String,
    pub nullable: bool,
}

pub fn describe(schema: &Schema) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            ty: type_name(f.data_type()),
            nullable: f.is_nullable(),
        })
        .collect()
}

/// The name clients see for a column type (see the module comment).
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "decimal".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Dictionary(_, values) => type_name(values),
        other => other.to_string().to_lowercase(),
    }
}

/// Reads a stored type name, turning the words of earlier versions into today's.
fn type_word<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let word = String::deserialize(d)?;
    Ok(match word.as_str() {
        "string" => "text".into(),
        "integer" => "int64".into(),
        "float" => "float64".into(),
        _ => word,
    })
}

#[cfg(test)]
#[test]
fn one_vocabulary_names_the_types() {
    use datafusion::arrow::datatypes::Field;
    let schema = Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int64, false),
        Field::new("c", DataType::Float64, false),
        Field::new("d", DataType::Boolean, false),
        Field::new("e", DataType::Date32, false),
        Field::new("f", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("g", DataType::Int32, false),
        Field::new("h", DataType::Decimal128(10, 2), false),
    ]);
    let names: Vec<String> = describe(&schema).into_iter().map(|c| c.ty).collect();
    assert_eq!(
        names,
        [
            "text",
            "int64",
            "float64",
            "boolean",
            "date",
            "timestamp",
            "int32",
            "decimal"
        ]
    );
    // Each declared type shows under its own name.
    for (word, ty) in [
        ("text", ColumnType::Text),
        ("int64", ColumnType::Int64),
        ("float64", ColumnType::Float64),
    ] {
        let declared: ColumnType = serde_json::from_value(serde_json::json!(word)).unwrap();
        assert_eq!(declared, ty);
        assert_eq!(type_name(&ty.arrow()), word);
    }
    // The earlier words are still read.
    let old: ColumnType = serde_json::from_value(serde_json::json!("string")).unwrap();
    assert_eq!(old, ColumnType::Text);
    let stored: ColumnInfo = serde_json::from_value(
        serde_json::json!({"name": "x", "type": "integer", "nullable": true}),
    )
    .unwrap();
    assert_eq!(stored.ty, "int64");
}
