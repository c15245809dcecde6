//! Tables as the host hands them over: typed columns with validity, no Arrow needed.

use crate::{Error, Texts};

/// The type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Boolean,
    Int64,
    Float64,
    Text,
    /// Days since 1970-01-01.
    Date,
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Text => "text",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

/// A column's values, one per row; a null row's slot holds a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Boolean(Vec<bool>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Text(Texts),
    Date(Vec<i32>),
    Timestamp(Vec<i64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::Int64(v) | Values::Timestamp(v) => v.len(),
            Values::Float64(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Date(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn column_type(&self) -> ColumnType {
        match self {
            Values::Boolean(_) => ColumnType::Boolean,
            Values::Int64(_) => ColumnType::Int64,
            Values::Float64(_) => ColumnType::Float64,
            Values::Text(_) => ColumnType::Text,
            Values::Date(_) => ColumnType::Date,
            Values::Timestamp(_) => ColumnType::Timestamp,
        }
    }
}

/// A named column. `validity`, when present, is false where a row is null.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
    pub validity: Option<Vec<bool>>,
}

impl Column {
    /// A column without nulls.
    pub fn new(name: impl Into<String>, values: Values) -> Column {
        Column {
            name: name.into(),
            values,
            validity: None,
        }
    }

    /// A float column from optional values; `None` is null.
    pub fn from_f64s(
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<f64>>,
    ) -> Column {
        let (v, valid): (Vec<f64>, Vec<bool>) = values
            .into_iter()
            .map(|x| (x.unwrap_or(0.0), x.is_some()))
            .unzip();
        Column::with_validity(name, Values::Float64(v), valid)
    }

    /// A text column from optional values; `None` is null.
    pub fn from_texts<S: Into<String>>(
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Column {
        let mut texts = Texts::new();
        let mut valid = Vec::new();
        for x in values {
            valid.push(x.is_some());
            texts.push(x.map(Into::into).as_deref().unwrap_or(""));
        }
        Column::with_validity(name, Values::Text(texts), valid)
    }

    /// A boolean column from optional values; `None` is null.
    pub fn from_bools(
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<bool>>,
    ) -> Column {
        let (v, valid): (Vec<bool>, Vec<bool>) = values
            .into_iter()
            .map(|x| (x.unwrap_or(false), x.is_some()))
            .unzip();
        Column::with_validity(name, Values::Boolean(v), valid)
    }

    fn with_validity(name: impl Into<String>, values: Values, valid: Vec<bool>) -> Column {
        Column {
            name: name.into(),
            values,
            validity: (!valid.iter().all(|v| *v)).then_some(valid),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn column_type(&self) -> ColumnType {
        self.values.column_type()
    }

    pub fn is_valid(&self, row: usize) -> bool {
        self.validity.as_ref().is_none_or(|v| v[row])
    }

    /// The values as numbers (int64 widened to float), `None` where null.
    pub fn f64s(&self) -> Result<Vec<Option<f64>>, Error> {
        let valid = |i: usize| self.is_valid(i);
        match &self.values {
            Values::Float64(v) => Ok(v
                .iter()
                .enumerate()
                .map(|(i, x)| valid(i).then_some(*x))
                .collect()),
            Values::Int64(v) => Ok(v
                .iter()
                .enumerate()
                .map(|(i, x)| valid(i).then_some(*x as f64))
                .collect()),
            other => Err(Error::InvalidConfig(format!(
                "column `{}` is {}, not a number",
                self.name,
                other.column_type().name()
            ))),
        }
    }

    /// The values as text, `None` where null.
    pub fn texts(&self) -> Result<Vec<Option<&str>>, Error> {
        match &self.values {
            Values::Text(v) => Ok(v
                .iter()
                .enumerate()
                .map(|(i, s)| self.is_valid(i).then_some(s))
                .collect()),
            other => Err(Error::InvalidConfig(format!(
                "column `{}` is {}, not text",
                self.name,
                other.column_type().name()
            ))),
        }
    }
}

/// A table: columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    rows: usize,
    columns: Vec<Column>,
}

impl Table {
    /// An empty table of `rows` rows, to add columns to.
    pub fn new(rows: usize) -> Table {
        Table {
            rows,
            columns: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column called `name`, or an error that lists the columns there are.
    pub fn column(&self, name: &str) -> Result<&Column, Error> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            Error::InvalidConfig(format!(
                "the input has no column `{name}`; its columns are {}",
                names.join(", ")
            ))
        })
    }

    /// Adds a column, or replaces the one of the same name.
    pub fn with_column(mut self, column: Column) -> Result<Table, Error> {
        if column.len() != self.rows
            || column
                .validity
                .as_ref()
                .is_some_and(|v| v.len() != self.rows)
        {
            return Err(Error::Failed(format!(
                "column `{}` has {} values for a table of {} rows",
                column.name,
                column.len(),
                self.rows
            )));
        }
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(c) => *c = column,
            None => self.columns.push(column),
        }
        Ok(self)
    }
}
