//! Support ticket writes (issue 7): opening a ticket (idempotent by the caller's request
//! key) and changing its status, priority and satisfaction rating under the ticket
//! lifecycle's rules. Reads live in [`crate::support`].

use sqlx::AssertSqlSafe;

use crate::records::Ticket;
use crate::rows::{self, TICKET_COLUMNS};
use crate::{Error, Result, WriteTx};

/// The statuses of a ticket, in lifecycle order.
pub const STATUSES: [&str; 4] = ["open", "pending", "solved", "closed"];

/// The priorities of a ticket, lowest first.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// Whether a ticket may go from `from` to `to`. A closed ticket is final (open a new one);
/// a solved one may be reopened or closed; open and pending move freely between each other
/// and to solved or closed.
pub fn transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "pending" | "solved" | "closed")
            | ("pending", "open" | "solved" | "closed")
            | ("solved", "open" | "closed")
    )
}

fn is_resolved(status: &str) -> bool {
    matches!(status, "solved" | "closed")
}

/// A ticket to open.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub account_id: String,
    /// Must be a contact of `account_id`.
    pub contact_id: Option<String>,
    pub subject: String,
    /// One of [`PRIORITIES`].
    pub priority: String,
}

async fn ticket_where(
    tx: &mut WriteTx,
    column: &'static str,
    value: &str,
) -> Result<Option<Ticket>> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM support_tickets WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a ticket", error))?;
    row.as_ref().map(rows::ticket).transpose()
}

/// The ticket with this id, read inside a write transaction.
pub async fn get_in(tx: &mut WriteTx, id: &str) -> Result<Ticket> {
    ticket_where(tx, "id", id)
        .await?
        .ok_or_else(|| Error::NotFound {
            entity: "ticket",
            id: id.to_string(),
        })
}

/// Opens a ticket once per `request_key` (a retry returns the first ticket and `false`).
/// The account must exist and the contact, if given, must belong to it.
pub async fn create(
    tx: &mut WriteTx,
    ticket: &NewTicket,
    request_key: Option<&str>,
) -> Result<(Ticket, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = ticket_where(tx, "request_key", key).await?
    {
        return Ok((existing, false));
    }
    crate::require_exists(tx, "accounts", "account", &ticket.account_id).await?;
    if let Some(contact_id) = &ticket.contact_id {
        let account: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM contacts WHERE id = $1")
                .bind(contact_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("read a contact", error))?;
        match account {
            None => {
                return Err(Error::NotFound {
                    entity: "contact",
                    id: contact_id.clone(),
                });
            }
            Some(account) if account != ticket.account_id => {
                return Err(Error::Conflict(format!(
                    "contact {contact_id} belongs to account {account}, not {}; name a contact of this account or none",
                    ticket.account_id
                )));
            }
            Some(_) => {}
        }
    }
    let id = crate::ids::new_id("tkt");
    sqlx::query(
        "INSERT INTO support_tickets (id, request_key, account_id, contact_id, subject, priority, status, opened_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(&ticket.account_id)
    .bind(ticket.contact_id.as_deref())
    .bind(&ticket.subject)
    .bind(&ticket.priority)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("open a ticket", error))?;
    let created = ticket_where(tx, "id", &id)
        .await?
        .ok_or(Error::Internal("read a new ticket"))?;
    Ok((created, true))
}

/// What to change on a ticket; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TicketChange {
    pub status: Option<String>,
    pub priority: Option<String>,
    /// 1-5; only on a ticket that is (or becomes) solved or closed.
    pub csat: Option<i64>,
}

/// Changes a ticket under the lifecycle's rules and returns it with whether anything
/// changed. Asking for what the ticket already is changes nothing (`false`). Moving into
/// solved or closed stamps `resolved_at` (closing a solved ticket keeps the solve time);
/// reopening clears it and the rating.
pub async fn update(tx: &mut WriteTx, id: &str, change: &TicketChange) -> Result<(Ticket, bool)> {
    let before = get_in(tx, id).await?;
    let status = change.status.clone().unwrap_or(before.status.clone());
    if status != before.status && !transition_allowed(&before.status, &status) {
        let allowed: Vec<&str> = STATUSES
            .iter()
            .copied()
            .filter(|to| transition_allowed(&before.status, to))
            .collect();
        return Err(Error::Conflict(format!(
            "ticket {id} is {} and cannot become {status}; {}",
            before.status,
            if allowed.is_empty() {
                "a closed ticket is final: open a new ticket instead".to_string()
            } else {
                format!(
                    "from {} it can become {}",
                    before.status,
                    allowed.join(", ")
                )
            }
        )));
    }
    if change.csat.is_some() && !is_resolved(&status) {
        return Err(Error::Conflict(format!(
            "ticket {id} would be {status}; a satisfaction rating is only given on a solved or closed ticket"
        )));
    }
    let priority = change.priority.clone().unwrap_or(before.priority.clone());
    let resolved_at = match (is_resolved(&before.status), is_resolved(&status)) {
        (false, true) => Some(crate::clock::now()),
        (true, true) => before.resolved_at.clone(),
        (_, false) => None,
    };
    let csat = if is_resolved(&status) {
        change.csat.or(before.csat)
    } else {
        None
    };
    let changed = status != before.status
        || priority != before.priority
        || resolved_at != before.resolved_at
        || csat != before.csat;
    if !changed {
        return Ok((before, false));
    }
    sqlx::query(
        "UPDATE support_tickets SET status = $1, priority = $2, resolved_at = $3, csat = $4 WHERE id = $5",
    )
    .bind(&status)
    .bind(&priority)
    .bind(resolved_at.as_deref())
    .bind(csat)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("update a ticket", error))?;
    Ok((get_in(tx, id).await?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_is_final_and_solved_can_reopen() {
        assert!(transition_allowed("open", "solved"));
        assert!(transition_allowed("pending", "open"));
        assert!(transition_allowed("solved", "open"));
        assert!(transition_allowed("solved", "closed"));
        assert!(!transition_allowed("solved", "pending"));
        for to in STATUSES {
            assert!(!transition_allowed("closed", to), "closed -> {to}");
        }
    }
}
