//! Every mutation is audited. Services record what they did; this extension records what
//! was refused — by a permission check, validation or a limit — with the error code, in
//! one place, so no refused write goes unrecorded.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

use super::AuthState;
use crate::RequestMeta;
use crate::services::{Services, SharePage};

pub(crate) struct AuditRefusals;

impl ExtensionFactory for AuditRefusals {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditRefusalsExt)
    }
}

struct AuditRefusalsExt;

#[async_graphql::async_trait::async_trait]
impl Extension for AuditRefusalsExt {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let is_mutation = info.parent_type == "Mutation";
        let field = info.name.to_owned();
        let result = next.run(ctx, info).await;
        if is_mutation
            && let Err(e) = &result
            && let Some(services) = ctx.data_opt::<Arc<Services>>()
        {
            let code = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map(|v| v.to_string().trim_matches('"').to_owned())
                .unwrap_or_else(|| "ERROR".into());
            let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
            match ctx.data_opt::<AuthState>() {
                Some(AuthState::Link(page)) if let SharePage::Ready(a) = &**page => {
                    services
                        .audit_link_refusal(a, &field, &code, &e.message)
                        .await;
                }
                auth => {
                    let caller = match auth {
                        Some(AuthState::Caller(c)) => Some(&**c),
                        _ => None,
                    };
                    services
                        .audit_refusal(caller, &meta, &field, &code, &e.message)
                        .await;
                }
            }
        }
        result
    }
}
