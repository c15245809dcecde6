//! Alerts: a task trigger that fires when a tile's value crosses a threshold. Pure: the
//! rule, its checks, and reading the value out of a tile's first row. Evaluating it after
//! each refresh, as the task's identity, is the task service's.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Which way a value crosses its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// From at or below the threshold to above it.
    Above,
    /// From at or above the threshold to below it.
    Below,
}

/// A threshold: a finite number (refused otherwise when the task is saved), so equality
/// is an equivalence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Limit(pub f64);

impl Eq for Limit {}

/// "When tile `tile` of report `report` goes `crossing` `value`", checked after each
/// refresh of each project of the task's target. It fires when the condition holds and
/// did not at that project's previous check (the first check that holds fires too), so a
/// value staying above its threshold alerts once, not at every refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    /// The report, by name (or id), as deliveries name it.
    pub report: String,
    pub tile: String,
    /// The result column read from the tile's first row; default: its last column (a
    /// KPI's value, a chart's first measure when it has one row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub crossing: Crossing,
    pub value: Limit,
}

impl Threshold {
    pub fn check_shape(&self) -> Result<(), CoreError> {
        if self.report.trim().is_empty() {
            return Err(CoreError::new(
                "trigger.threshold.report",
                "name the report",
            ));
        }
        if self.tile.trim().is_empty() {
            return Err(CoreError::new("trigger.threshold.tile", "name the tile"));
        }
        if !self.value.0.is_finite() {
            return Err(CoreError::new(
                "trigger.threshold.value",
                "must be a finite number",
            ));
        }
        Ok(())
    }

    /// Does `value` meet the condition?
    pub fn met(&self, value: f64) -> bool {
        match self.crossing {
            Crossing::Above => value > self.value.0,
            Crossing::Below => value < self.value.0,
        }
    }

    /// The value the rule reads from a tile's result (`columns` by name, `first_row` as
    /// JSON values): a number, or text that reads as one. `None` with the reason when
    /// there is none (no rows, no such column, not a number).
    pub fn value_in(
        &self,
        columns: &[String],
        first_row: Option<&[serde_json::Value]>,
    ) -> Result<f64, String> {
        let row = first_row.ok_or_else(|| "the tile has no rows".to_owned())?;
        let i = match &self.column {
            Some(c) => columns
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| format!("the tile has no column `{c}`"))?,
            None => columns
                .len()
                .checked_sub(1)
                .ok_or_else(|| "the tile has no columns".to_owned())?,
        };
        let v = row.get(i).unwrap_or(&serde_json::Value::Null);
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|f: &f64| f.is_finite())
            .ok_or_else(|| format!("`{}` is not a number: {v}", columns[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(crossing: Crossing, column: Option<&str>) -> Threshold {
        Threshold {
            report: "Sales".into(),
            tile: "total".into(),
            column: column.map(str::to_owned),
            crossing,
            value: Limit(100.0),
        }
    }

    #[test]
    fn values_are_read_and_compared_strictly() {
        let cols = vec!["region".to_owned(), "sales".to_owned()];
        let row = [json!("West"), json!(150.5)];
        let above = rule(Crossing::Above, None);
        let v = above.value_in(&cols, Some(&row)).unwrap();
        assert!(above.met(v) && !above.met(100.0));
        assert!(rule(Crossing::Below, None).met(99.0));
        let text = [json!("West"), json!("42")];
        assert_eq!(above.value_in(&cols, Some(&text)), Ok(42.0));
        let by_name = rule(Crossing::Above, Some("region"));
        assert!(
            by_name
                .value_in(&cols, Some(&row))
                .unwrap_err()
                .contains("not a number")
        );
        let missing = rule(Crossing::Above, Some("profit"));
        assert!(
            missing
                .value_in(&cols, Some(&row))
                .unwrap_err()
                .contains("no column")
        );
        assert!(above.value_in(&cols, None).unwrap_err().contains("no rows"));
        let mut bad = above.clone();
        bad.value = Limit(f64::NAN);
        assert!(bad.check_shape().is_err());
        bad.value = Limit(1.0);
        bad.tile = " ".into();
        assert!(bad.check_shape().is_err());
    }
}
