//! Who a check is about: a user, and for a scoped credential the one folder or project it
//! was issued for.

use crate::index::Index;
use crate::model::Object;

/// The subject of every check [`crate::Authz`] answers. Plain user ids convert into an
/// unscoped principal; the services turn a caller holding a scoped token into a scoped
/// one, so every check a request makes honours the scope without asking for it.
///
/// A scoped principal holds its user's roles on the scope and below it, nothing elsewhere,
/// and no server permission at all.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub uid: &'a str,
    pub scope: Option<&'a Object>,
}

impl<'a> Principal<'a> {
    pub fn user(uid: &'a str) -> Principal<'a> {
        Principal { uid, scope: None }
    }

    pub fn scoped(uid: &'a str, scope: Option<&'a Object>) -> Principal<'a> {
        Principal { uid, scope }
    }

    /// May the principal's scope reach `object` at all? Always, when it has none.
    pub(crate) fn reaches(&self, index: &Index, object: &Object) -> bool {
        match self.scope {
            None => true,
            Some(Object::Instance) => false,
            Some(scope @ Object::Project(_)) => object == scope,
            Some(scope @ Object::Folder(_)) => {
                let (scope, object) = (scope.to_string(), object.to_string());
                index.chain(&object).any(|a| a == scope)
            }
        }
    }

    /// Is the scope strictly below `object`? Such folders stay listed, so the path to what
    /// the scope covers is navigable.
    pub(crate) fn scope_below(&self, index: &Index, object: &Object) -> bool {
        self.scope.is_some_and(|scope| {
            let (scope, object) = (scope.to_string(), object.to_string());
            index.chain(&scope).skip(1).any(|a| a == object)
        })
    }
}

impl<'a> From<&'a str> for Principal<'a> {
    fn from(uid: &'a str) -> Self {
        Principal::user(uid)
    }
}

impl<'a> From<&'a String> for Principal<'a> {
    fn from(uid: &'a String) -> Self {
        Principal::user(uid)
    }
}

impl<'a> From<&'a vitrine_core::UserId> for Principal<'a> {
    fn from(uid: &'a vitrine_core::UserId) -> Self {
        Principal::user(uid)
    }
}
