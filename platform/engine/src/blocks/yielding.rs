//! Block plans give their thread back often, so a stopped block stops.
//!
//! A block runs on a task of its own, and stopping it (a cancelled run, the time limit)
//! aborts that task, which takes effect the next time the task yields. DataFusion yields
//! only where its leaves run out of tokio's cooperative budget; an operator that makes
//! many batches out of one input batch (a cross join, a nested loop join, an unnest)
//! never polls its leaves in between, so a cross join under an aggregate computed on for
//! minutes after its run had given up on it. [`YieldOften`] wraps every inner operator in
//! a [`CooperativeExec`], which spends one unit of the budget per batch: the task yields
//! every 128 batches wherever they come from, at the cost of a counter per batch.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

#[derive(Debug, Default)]
pub(crate) struct YieldOften;

impl PhysicalOptimizerRule for YieldOften {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // Leaves are made cooperative by DataFusion's own rule.
            if node.children().is_empty() || node.is::<CooperativeExec>() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(
                Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "yield_often"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
