//! `vitrine admin …`: what an operator does from the machine's shell, without a browser:
//! create users and reset passwords, list, disable and enable users, make or unmake
//! administrators, unlock a locked share link, and show the setup link again. Access to
//! the data directory is the authority; every change is audited as the `shell`.
//!
//! Each command opens the database itself, so with an embedded database it refuses while
//! a server runs on the same directory (the database belongs to one process). The setup
//! link is the exception: the running server leaves it in the data directory.

use std::io::BufRead;

use anyhow::Context;
use clap::Subcommand;

use crate::{Common, load_config};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a local user; the password is read from the first line of standard input.
    CreateUser {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Set a local account's password (the break-glass administrator's when local
    /// accounts are off) and end its sessions; the password is read from the first line
    /// of standard input.
    ResetPassword {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
    },
    /// List every user: name, kind, sign-in, administrator, disabled.
    ListUsers {
        #[command(flatten)]
        common: Common,
    },
    /// Disable a user: their sessions end at once, their API tokens on next use.
    DisableUser {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again.
    EnableUser {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
    },
    /// Make a user an administrator.
    GrantAdmin {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
    },
    /// Stop a user being an administrator (never the last enabled one).
    RevokeAdmin {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        username: String,
    },
    /// Unlock a share link locked after repeated wrong passwords.
    UnlockLink {
        #[command(flatten)]
        common: Common,
        /// The link's id (the last part of its /s/v/LINK page).
        #[arg(long)]
        link: String,
    },
    /// Print the setup link of an instance without an administrator, as its running
    /// server printed it.
    SetupLink {
        #[command(flatten)]
        common: Common,
    },
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// The services over the data directory, or why not: a server holding the embedded
/// database is the usual reason.
async fn open(common: &Common) -> anyhow::Result<std::sync::Arc<vitrine_api::Services>> {
    let config = load_config(common)?;
    vitrine_server::open_app(&config)
        .await
        .map(|app| app.services)
        .context("cannot open the database (an embedded database cannot be opened while `vitrine serve` runs on it; stop the server first)")
}

fn refused(e: vitrine_api::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            common,
            username,
            display_name,
            admin,
        } => {
            let services = open(&common).await?;
            let password = read_password()?;
            let name = display_name.as_deref().unwrap_or(&username);
            let user = services
                .identity()
                .create_user_from_shell(&username, name, &password, admin)
                .await
                .map_err(refused)?;
            let role = if admin { " with admin" } else { "" };
            println!("created user {} (id {}){role}", user.username, user.uid);
        }
        AdminCommand::ResetPassword { common, username } => {
            let services = open(&common).await?;
            let password = read_password()?;
            let user = services
                .identity()
                .reset_password_from_shell(&username, &password)
                .await
                .map_err(refused)?;
            println!(
                "password of {} (id {}) set; its sessions ended",
                user.username, user.uid
            );
        }
        AdminCommand::ListUsers { common } => {
            let services = open(&common).await?;
            let users = services.identity().shell_users().await.map_err(refused)?;
            println!(
                "{:<24} {:<8} {:<10} {:<6} {:<9} id",
                "username", "kind", "sign-in", "admin", "disabled"
            );
            for u in users {
                let kind = format!("{:?}", u.user.kind).to_lowercase();
                println!(
                    "{:<24} {:<8} {:<10} {:<6} {:<9} {}",
                    u.user.username,
                    kind,
                    u.user.issuer,
                    if u.admin { "yes" } else { "no" },
                    if u.user.disabled { "yes" } else { "no" },
                    u.user.uid
                );
            }
        }
        AdminCommand::DisableUser { common, username } => {
            set_disabled(&common, &username, true).await?;
        }
        AdminCommand::EnableUser { common, username } => {
            set_disabled(&common, &username, false).await?;
        }
        AdminCommand::GrantAdmin { common, username } => {
            let services = open(&common).await?;
            let identity = services.identity();
            let user = identity
                .shell_set_admin(&username, true)
                .await
                .map_err(refused)?;
            println!("{} is an administrator", user.username);
        }
        AdminCommand::RevokeAdmin { common, username } => {
            let services = open(&common).await?;
            let identity = services.identity();
            let user = identity
                .shell_set_admin(&username, false)
                .await
                .map_err(refused)?;
            println!("{} is no longer an administrator", user.username);
        }
        AdminCommand::UnlockLink { common, link } => {
            let services = open(&common).await?;
            let sharing = services.sharing();
            let l = sharing
                .unlock_link_from_shell(&link)
                .await
                .map_err(refused)?;
            println!(
                "link {} unlocked; its wrong-password count starts again",
                l.uid
            );
        }
        AdminCommand::SetupLink { common } => {
            let config = load_config(&common)?;
            let file = config.storage.data_dir.join(vitrine_server::SETUP_URL_FILE);
            match std::fs::read_to_string(&file) {
                Ok(url) => print!("{url}"),
                Err(_) => anyhow::bail!(
                    "no setup link in {}: the instance has an administrator already, or no server has run on it yet (start `vitrine serve`; it prints the link)",
                    config.storage.data_dir.display()
                ),
            }
        }
    }
    Ok(())
}

async fn set_disabled(common: &Common, username: &str, disabled: bool) -> anyhow::Result<()> {
    let services = open(common).await?;
    let identity = services.identity();
    let user = identity
        .shell_set_disabled(username, disabled)
        .await
        .map_err(refused)?;
    let state = if disabled {
        "disabled; its sessions ended"
    } else {
        "enabled"
    };
    println!("{} {state}", user.username);
    Ok(())
}
