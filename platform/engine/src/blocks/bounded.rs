//! What a SQL block may ask of memory. DataFusion accounts for the memory of its
//! buffering operators (sorts, joins, aggregates) in a pool, which each block and each
//! report query gets of its own: past it they spill to disk or fail with a clear error.
//! Functions that build one large value out of a small expression (`repeat('x', 1e9)`,
//! `lpad(s, 1e9)`) are not accounted for by any pool, so they are replaced by versions that
//! refuse lengths past [`MAX_BUILT_LENGTH`], and `generate_series`/`range` by one that
//! refuses series longer than [`MAX_SERIES_ROWS`].

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

/// The longest string one call of `repeat`, `lpad` or `rpad` may build, in characters.
pub const MAX_BUILT_LENGTH: i64 = 1 << 20;

/// The longest series `generate_series` and `range` may make.
pub const MAX_SERIES_ROWS: i128 = 10_000_000;

/// Memory one block or one report query may hold in DataFusion's buffering operators.
pub const QUERY_MEMORY_BYTES: usize = 2 << 30;

/// A runtime whose memory pool bounds one query.
pub(crate) fn bounded_runtime() -> Arc<RuntimeEnv> {
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(QUERY_MEMORY_BYTES)))
        .build_arc()
        // Building only sets fields; a default runtime here would run without the pool.
        .expect("a runtime with a memory pool builds")
}

/// Replaces the length-building string functions of `ctx` with bounded ones.
pub(crate) fn bound_functions(ctx: &SessionContext) {
    for (name, arg) in [("repeat", 1), ("lpad", 1), ("rpad", 1)] {
        if let Ok(inner) = datafusion::execution::FunctionRegistry::udf(ctx, name) {
            ctx.register_udf(ScalarUDF::new_from_impl(BoundedLength {
                inner: inner.inner().clone(),
                arg,
            }));
        }
    }
    bound_series(ctx);
}

/// Replaces the series table functions of `ctx` with bounded ones.
fn bound_series(ctx: &SessionContext) {
    for name in ["generate_series", "range"] {
        if let Ok(inner) = ctx.table_function(name) {
            ctx.register_udtf(
                name,
                Arc::new(BoundedSeries {
                    inner: inner.function().clone(),
                }),
            );
        }
    }
}

/// A series function refused past [`MAX_SERIES_ROWS`] before it makes anything.
#[derive(Debug)]
struct BoundedSeries {
    inner: Arc<dyn datafusion::catalog::TableFunctionImpl>,
}

fn int_literal(e: &datafusion::logical_expr::Expr) -> Option<i128> {
    match e {
        datafusion::logical_expr::Expr::Literal(ScalarValue::Int64(Some(n)), _) => {
            Some(i128::from(*n))
        }
        _ => None,
    }
}

impl datafusion::catalog::TableFunctionImpl for BoundedSeries {
    fn call_with_args(
        &self,
        args: datafusion::catalog::TableFunctionArgs,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        let exprs = args.exprs();
        let ints: Vec<Option<i128>> = exprs.iter().map(int_literal).collect();
        let (start, end, step) = match ints.as_slice() {
            [Some(end)] => (Some(0), Some(*end), Some(1)),
            [start, end] => (*start, *end, Some(1)),
            [start, end, step] => (*start, *end, *step),
            _ => (None, None, None),
        };
        if let (Some(start), Some(end), Some(step)) = (start, end, step)
            && step != 0
        {
            let rows = (end - start) / step + 1;
            if rows > MAX_SERIES_ROWS {
                return datafusion::common::plan_err!(
                    "a series of {rows} rows is longer than the {MAX_SERIES_ROWS} rows one may make"
                );
            }
        }
        self.inner.call_with_args(args)
    }
}

/// A string function whose argument `arg` is a length or count, refused past
/// [`MAX_BUILT_LENGTH`] before the function allocates anything.
#[derive(Debug)]
struct BoundedLength {
    inner: Arc<dyn ScalarUDFImpl>,
    arg: usize,
}

impl PartialEq for BoundedLength {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name() == other.inner.name() && self.arg == other.arg
    }
}

impl Eq for BoundedLength {}

impl Hash for BoundedLength {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
        self.arg.hash(state);
    }
}

fn too_long(name: &str, n: i64) -> Result<()> {
    if n > MAX_BUILT_LENGTH {
        return exec_err!(
            "{name}: {n} is longer than the {MAX_BUILT_LENGTH} characters one value may be built to"
        );
    }
    Ok(())
}

impl ScalarUDFImpl for BoundedLength {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.inner.name();
        match args.args.get(self.arg) {
            Some(ColumnarValue::Scalar(s)) => {
                if let ScalarValue::Int64(Some(n)) = s.cast_to(&DataType::Int64)? {
                    too_long(name, n)?;
                }
            }
            Some(ColumnarValue::Array(a)) => {
                let a = cast(a, &DataType::Int64)?;
                let ints = a.as_primitive::<Int64Type>();
                if let Some(n) = datafusion::arrow::compute::max(ints) {
                    too_long(name, n)?;
                }
            }
            None => {}
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<usize> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn strings_built_past_the_bound_are_refused_before_they_are_built() {
        let ctx = SessionContext::new_with_config_rt(Default::default(), bounded_runtime());
        bound_functions(&ctx);
        assert_eq!(
            run(&ctx, "SELECT repeat('ab', 1000) AS s").await.unwrap(),
            1
        );
        for sql in [
            "SELECT repeat('x', 1200000000) AS s",
            "SELECT lpad('x', 2000000) AS s",
            "SELECT rpad('x', 2000000, 'y') AS s",
            "SELECT repeat('x', n) FROM (VALUES (1), (5000000)) AS t(n)",
        ] {
            let e = run(&ctx, sql).await.unwrap_err().to_string();
            assert!(e.contains("longer than"), "{sql}: {e}");
        }
        assert_eq!(
            run(&ctx, "SELECT * FROM generate_series(1, 1000)")
                .await
                .unwrap(),
            1000
        );
        assert_eq!(run(&ctx, "SELECT * FROM range(10)").await.unwrap(), 10);
        for sql in [
            "SELECT count(*) FROM generate_series(1, 100000000000)",
            "SELECT count(*) FROM range(0, 50000000000, 2)",
            "SELECT count(*) FROM generate_series(100000000000)",
        ] {
            let e = run(&ctx, sql).await.unwrap_err().to_string();
            assert!(e.contains("longer than"), "{sql}: {e}");
        }
    }
}
