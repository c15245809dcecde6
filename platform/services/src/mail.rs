//! Outgoing mail over SMTP: report deliveries and failure notices ([`crate::tasks`]),
//! share invitations ([`crate::sharing`]). One sender for the whole instance.

use std::sync::{Arc, OnceLock};

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vitrine_core::ErrorCode;

use crate::{ApiError, ApiResult};

/// The sender when none is configured.
pub const MAIL_DEFAULT_FROM: &str = "Vitrine <vitrine@localhost>";

/// How this instance sends mail.
#[derive(Debug, Clone, Default)]
pub struct MailConfig {
    /// `smtp://HOST:PORT` (plain; STARTTLS when the server offers it is not forced),
    /// `smtp://HOST:PORT?tls=required` (STARTTLS) or `smtps://USER:PASS@HOST:PORT`
    /// (TLS). None: deliveries fail with a clear error.
    pub smtp_url: Option<String>,
    /// The sender address, e.g. `Vitrine <vitrine@example.com>`.
    pub from: String,
}

pub(crate) struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub(crate) struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub message_id: String,
}

fn mail_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("mail: {e}"))
}

impl MailConfig {
    pub(crate) async fn send(&self, mail: Mail) -> ApiResult<()> {
        let url = self.smtp_url.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "mail: no SMTP server is configured (mail.smtp_url)",
            )
        })?;
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| mail_error(format!("sender `{}`: {e}", self.from)))?;
        let mut builder = Message::builder()
            .from(from)
            .subject(mail.subject)
            .message_id(Some(mail.message_id));
        for to in &mail.to {
            builder = builder.to(to
                .parse()
                .map_err(|e| ApiError::invalid(format!("recipient `{to}`: {e}")))?);
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body));
        for a in mail.attachments {
            let ct = ContentType::parse(&a.content_type).map_err(mail_error)?;
            parts = parts.singlepart(MailAttachment::new(a.filename).body(a.bytes, ct));
        }
        let message = builder.multipart(parts).map_err(mail_error)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(mail_error)?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        transport.send(message).await.map_err(mail_error)?;
        Ok(())
    }
}

/// The mail configuration and the URL people reach this instance at, which mails that
/// carry links need. The server sets the URL once it knows it (a configured public URL,
/// or the address it bound).
#[derive(Debug, Clone, Default)]
pub struct Mailer {
    pub(crate) config: MailConfig,
    public_url: Arc<OnceLock<String>>,
}

impl Mailer {
    pub(crate) fn new(config: MailConfig) -> Mailer {
        Mailer {
            config,
            public_url: Arc::default(),
        }
    }

    /// Sets the public URL links in mails start with; the first call wins.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_owned());
    }

    /// `path` as an absolute URL; refused while the public URL is unknown (a worker
    /// process, say), rather than mailing a link that leads nowhere.
    pub(crate) fn url(&self, path: &str) -> ApiResult<String> {
        let base = self.public_url.get().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "mail: this process does not know the instance's public URL (server.public_url)",
            )
        })?;
        Ok(format!("{base}{path}"))
    }

    pub(crate) async fn send(&self, mail: Mail) -> ApiResult<()> {
        self.config.send(mail).await
    }
}
