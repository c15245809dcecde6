//! Policy import and export in casbin's CSV form. An import is validated whole — every line
//! parsed, every reference resolved, the floor rule checked, casbin made to load it — and
//! only then replaces the stored grants and memberships in one transaction.

use std::collections::{HashMap, HashSet};

use casbin::{CoreApi, Enforcer, StringAdapter};
use vitrine_core::Role;
use vitrine_storage::PolicyLine;

use crate::index::{Index, parse_grant};
use crate::model::{DEFAULT_POLICY, Grant, MODEL_CONF, Object, Subject};
use crate::{Authz, AuthzError, AuthzResult, lines_of};

/// Import refuses files larger than this many lines.
pub const MAX_IMPORT_LINES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub grants: usize,
    pub memberships: usize,
}

pub(crate) fn default_lines() -> Vec<PolicyLine> {
    parse_lines(DEFAULT_POLICY).map(|(_, l)| l).collect()
}

fn parse_lines(csv: &str) -> impl Iterator<Item = (usize, PolicyLine)> + '_ {
    csv.lines().enumerate().filter_map(|(i, raw)| {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = t.split(',').map(str::trim).collect();
        let get = |k: usize| f.get(k).copied().unwrap_or("");
        Some((i + 1, PolicyLine::new(get(0), get(1), get(2), get(3))))
    })
}

/// Object ids that exist, so an import cannot name what is not there.
pub trait KnownIds {
    fn user(&self, uid: &str) -> bool;
    fn group(&self, uid: &str) -> bool;
    fn folder(&self, uid: &str) -> bool;
    fn project(&self, uid: &str) -> bool;
}

impl Authz {
    /// Grants and memberships as casbin CSV, with a header saying what the file is.
    pub fn export_csv(&self) -> String {
        let mut out = String::from(
            "# vitrine policy export: p = grant (subject, object, role or permission), g = membership (user, group)\n",
        );
        for l in self.policy_lines() {
            let vals = l.values().join(", ");
            out.push_str(&format!("{}, {vals}\n", l.ptype));
        }
        out
    }

    /// Replaces every grant and membership with the file's. Refused whole, with every
    /// problem listed by line, when any line is malformed, names something unknown,
    /// contradicts another line or the folder floor, or leaves no administrator.
    pub async fn import_csv(
        &self,
        csv: &str,
        known: &(dyn KnownIds + Sync),
    ) -> AuthzResult<ImportSummary> {
        let mut enforcer = self.enforcer.lock().await;
        let parsed: Vec<(usize, PolicyLine)> = parse_lines(csv).collect();
        if parsed.len() > MAX_IMPORT_LINES {
            return Err(AuthzError::InvalidPolicy(format!(
                "{} lines; the limit is {MAX_IMPORT_LINES}",
                parsed.len()
            )));
        }
        let mut problems = Vec::new();
        let mut seen: HashMap<(String, String), (usize, String)> = HashMap::new();
        let mut members = HashSet::new();
        for (n, l) in &parsed {
            if let Err(why) = check_line(l, known) {
                problems.push(format!("line {n}: {why}"));
                continue;
            }
            if l.ptype == "p" && !matches!(Object::parse(&l.v1), Some(Object::Instance)) {
                if let Some((first, other)) =
                    seen.insert((l.v0.clone(), l.v1.clone()), (*n, l.v2.clone()))
                    && other != l.v2
                {
                    problems.push(format!("line {n}: {} gets {} on {} but line {first} gives {other}; one role per subject and object", l.v0, l.v2, l.v1));
                }
            } else if l.ptype == "g" && !members.insert((l.v0.clone(), l.v1.clone())) {
                problems.push(format!("line {n}: {} is listed in {} twice", l.v0, l.v1));
            }
        }
        let new_lines: Vec<PolicyLine> = parsed.iter().map(|(_, l)| l.clone()).collect();
        if problems.is_empty() {
            // The tree (g2) and ladder (g3) stay; the floor is checked against the tree.
            let mut all: Vec<PolicyLine> = lines_of(&enforcer)
                .into_iter()
                .filter(|l| l.ptype == "g2" || l.ptype == "g3")
                .collect();
            all.extend(new_lines.iter().cloned());
            let candidate = Index::build(&all);
            for (n, l) in &parsed {
                if let Some(Grant::Role(role)) = parse_grant(&l.v1, &l.v2) {
                    let floor = candidate.inherited_role_of_subject(&l.v0, &l.v1);
                    if role < floor {
                        problems.push(format!("line {n}: {} gets {role} on {} below the {floor} it has on a folder above; a project or folder may be granted more than its folder, never less", l.v0, l.v1));
                    }
                }
            }
            if !candidate.any_admin() {
                problems.push("no line grants admin on instance; the import would lock every administrator out".into());
            }
            if problems.is_empty() {
                let text: String = all
                    .iter()
                    .map(|l| format!("{}, {}\n", l.ptype, l.values().join(", ")))
                    .collect();
                let model = casbin::DefaultModel::from_str(MODEL_CONF).await?;
                if let Err(e) = Enforcer::new(model, StringAdapter::new(text)).await {
                    problems.push(format!("casbin cannot load the result: {e}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(AuthzError::InvalidPolicy(problems.join("; ")));
        }
        self.store
            .replace_policy_lines(&["p", "g"], &new_lines)
            .await?;
        enforcer.load_policy().await?;
        self.rebuild(&enforcer);
        Ok(ImportSummary {
            grants: new_lines.iter().filter(|l| l.ptype == "p").count(),
            memberships: new_lines.iter().filter(|l| l.ptype == "g").count(),
        })
    }
}

fn check_line(l: &PolicyLine, known: &(dyn KnownIds + Sync)) -> Result<(), String> {
    match l.ptype.as_str() {
        "p" => {
            let subject = Subject::parse(&l.v0).ok_or_else(|| format!("`{}` is not a subject (user:ID or group:ID)", l.v0))?;
            let object = Object::parse(&l.v1).ok_or_else(|| format!("`{}` is not an object (folder:ID, project:ID or instance)", l.v1))?;
            check_subject(&subject, known)?;
            match &object {
                Object::Instance => {}
                Object::Folder(f) if !known.folder(f) => return Err(format!("folder {f} does not exist")),
                Object::Project(p) if !known.project(p) => return Err(format!("project {p} does not exist")),
                _ => {}
            }
            match parse_grant(&l.v1, &l.v2) {
                Some(_) => Ok(()),
                None if matches!(object, Object::Instance) => Err(format!("`{}` is not a server permission", l.v2)),
                None if l.v2 == Role::NoAccess.as_str() => Err("no_access is not granted; leave the line out".into()),
                None => Err(format!("`{}` is not a role (viewer, editor, manager, owner)", l.v2)),
            }
        }
        "g" => {
            match (Subject::parse(&l.v0), Subject::parse(&l.v1)) {
                (Some(u @ Subject::User(_)), Some(g @ Subject::Group(_))) if l.v2.is_empty() => {
                    check_subject(&u, known)?;
                    check_subject(&g, known)
                }
                _ => Err("a membership line is `g, user:ID, group:ID`".into()),
            }
        }
        "g2" | "g3" => Err("the folder tree and the role ladder are not imported; they follow folders and projects".into()),
        other => Err(format!("unknown line type `{other}`; expected p or g")),
    }
}

fn check_subject(s: &Subject, known: &(dyn KnownIds + Sync)) -> Result<(), String> {
    match s {
        Subject::User(u) if !known.user(u) => Err(format!("user {u} does not exist")),
        Subject::Group(g) if !known.group(g) => Err(format!("group {g} does not exist")),
        _ => Ok(()),
    }
}
