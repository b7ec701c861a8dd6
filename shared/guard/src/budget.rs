//! Budget caps: spend is reserved against a campaign's lifetime cap, its daily cap and the
//! organisation's monthly cap in one step, then committed (up to the amount reserved) or
//! released. The ledger is append-only; what a cap holds is the committed spend plus the
//! reservations not yet closed.
//!
//! Every function here runs inside the caller's write transaction. Reserving and closing
//! take the budget lock first ([`lock`]): on SQLite the transaction already holds the file's
//! write lock (`BEGIN IMMEDIATE`); on Postgres an advisory lock held to the end of the
//! transaction serialises every check-then-insert, so two calls can never both see the same
//! headroom. A unique index on `reservation_id` backs this up: a reservation has at most one
//! closing row.

use sqlx::Row;
use store::{Backend, WriteTx};

use crate::{Refusal, db_error};

/// The organisation-wide cap, from configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrganisationCaps {
    /// Spend allowed per calendar month across every campaign, minor units; none = no cap.
    pub monthly_cap_minor: Option<i64>,
}

/// The variable holding the organisation's monthly cap in minor units.
pub const MONTHLY_CAP_VAR: &str = "REVOPS_MONTHLY_SPEND_CAP_MINOR";

impl OrganisationCaps {
    /// `REVOPS_MONTHLY_SPEND_CAP_MINOR`, if set to a non-negative integer.
    pub fn from_env() -> Result<OrganisationCaps, String> {
        match store::config::var(MONTHLY_CAP_VAR) {
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|cap| *cap >= 0)
                .map(|cap| OrganisationCaps { monthly_cap_minor: Some(cap) })
                .ok_or_else(|| format!("{MONTHLY_CAP_VAR} must be a whole number of minor units (cents), got {text:?}")),
            None => Ok(OrganisationCaps::default()),
        }
    }
}

/// Spend to reserve.
#[derive(Debug, Clone)]
pub struct SpendRequest<'a> {
    pub campaign_id: &'a str,
    /// Minor units, > 0.
    pub amount_minor: i64,
    /// The day the money is spent, `YYYY-MM-DD`.
    pub spend_date: &'a str,
    /// Retrying with the same key returns the first result instead of spending twice.
    pub request_key: Option<&'a str>,
    pub actor: &'a str,
}

/// Where a campaign stands after a reservation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Reservation {
    pub reservation_id: String,
    pub campaign_id: String,
    pub amount_minor: i64,
    /// The currency of the campaign's caps and amounts (ISO 4217).
    pub currency: String,
    /// The day the money is (to be) spent, `YYYY-MM-DD`.
    pub spend_date: String,
    /// False when `request_key` had been used before; this is the earlier reservation.
    pub created: bool,
    /// Lifetime cap minus what is held after this reservation, minor units.
    pub lifetime_headroom_minor: i64,
    /// Daily cap minus what is held that day, minor units; none when there is no daily cap.
    pub daily_headroom_minor: Option<i64>,
    /// Monthly organisation cap minus what is held that month; none when there is no cap.
    pub monthly_headroom_minor: Option<i64>,
}

/// What is left under each cap for one campaign and day, minor units (negative never: a
/// cap lowered below what was held shows 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Headroom {
    pub lifetime_headroom_minor: i64,
    /// None when the campaign has no daily cap.
    pub daily_headroom_minor: Option<i64>,
    /// None when the organisation has no monthly cap.
    pub monthly_headroom_minor: Option<i64>,
}

/// How a reservation was closed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Closing {
    /// The ledger row that closed the reservation.
    pub entry_id: String,
    pub reservation_id: String,
    pub campaign_id: String,
    pub spend_date: String,
    /// What the reservation held, minor units.
    pub reserved_minor: i64,
    /// What was committed as spent (0 for a release), minor units.
    pub committed_minor: i64,
    /// What went back to the caps, minor units.
    pub released_minor: i64,
}

/// A campaign's money at a glance: what is committed and what open reservations hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Position {
    /// Committed spend to date, minor units.
    pub committed_minor: i64,
    /// Open (not yet committed or released) reservations, minor units.
    pub reserved_minor: i64,
    /// The most held (committed + reserved) on any one day from `from_date` on, minor units:
    /// the lowest daily cap that still fits what is already planned.
    pub peak_daily_held_minor: i64,
}

/// Serialises reservations against the organisation's monthly cap on Postgres.
const POSTGRES_BUDGET_LOCK: i64 = 0x7265_766f_7073_0002;

/// Takes the budget lock for the rest of the transaction (a no-op on SQLite, whose write
/// transactions already hold the file's write lock).
pub async fn lock(tx: &mut WriteTx, backend: Backend) -> Result<(), Refusal> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POSTGRES_BUDGET_LOCK)
            .execute(&mut **tx)
            .await
            .map_err(db_error("lock the budget"))?;
    }
    Ok(())
}

/// What the ledger holds (committed plus open reservations) for rows matching `scope`.
async fn held(tx: &mut WriteTx, scope: &str, binds: &[&str]) -> Result<i64, Refusal> {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'commit' THEN b.amount_minor \
         WHEN b.entry_kind = 'reservation' AND NOT EXISTS (SELECT 1 FROM budget_ledger c WHERE c.reservation_id = b.id) \
         THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS held FROM budget_ledger b WHERE {scope}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(*value);
    }
    let row = query
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error("total the budget ledger"))?;
    row.try_get("held")
        .map_err(db_error("total the budget ledger"))
}

/// An amount for people: `1,250.00 USD` (minor units with two decimals, thousands grouped).
pub fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02} {currency}", abs % 100)
}

/// A campaign's caps and state, as the budget sees them.
struct CampaignCaps {
    lifetime: i64,
    daily: Option<i64>,
    status: String,
    currency: String,
}

async fn campaign_caps(tx: &mut WriteTx, id: &str) -> Result<CampaignCaps, Refusal> {
    let row = sqlx::query(
        "SELECT budget_lifetime_minor, budget_daily_minor, status, currency FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error("read a campaign"))?
    .ok_or_else(|| {
        Refusal::Budget(format!(
            "no campaign has id {id:?}; list campaigns to find it"
        ))
    })?;
    Ok(CampaignCaps {
        lifetime: row
            .try_get("budget_lifetime_minor")
            .map_err(db_error("read a campaign"))?,
        daily: row
            .try_get("budget_daily_minor")
            .map_err(db_error("read a campaign"))?,
        status: row.try_get("status").map_err(db_error("read a campaign"))?,
        currency: row
            .try_get("currency")
            .map_err(db_error("read a campaign"))?,
    })
}

/// The first and last day of `spend_date`'s month as text bounds (`YYYY-MM-01`,
/// `YYYY-MM-31`; text order is date order, so a 31 bounds every month).
fn month_bounds(spend_date: &str) -> (String, String) {
    let month = spend_date.get(..7).unwrap_or(spend_date);
    (format!("{month}-01"), format!("{month}-31"))
}

/// What is left under every cap for `campaign_id` on `spend_date`, as the ledger stands.
pub async fn headroom(
    tx: &mut WriteTx,
    caps: OrganisationCaps,
    campaign_id: &str,
    spend_date: &str,
) -> Result<Headroom, Refusal> {
    let campaign = campaign_caps(tx, campaign_id).await?;
    headroom_of(tx, caps, &campaign, campaign_id, spend_date).await
}

async fn headroom_of(
    tx: &mut WriteTx,
    caps: OrganisationCaps,
    campaign: &CampaignCaps,
    campaign_id: &str,
    spend_date: &str,
) -> Result<Headroom, Refusal> {
    let lifetime_held = held(tx, "b.campaign_id = $1", &[campaign_id]).await?;
    let daily_headroom_minor = match campaign.daily {
        Some(cap) => {
            let day = held(
                tx,
                "b.campaign_id = $1 AND b.spend_date = $2",
                &[campaign_id, spend_date],
            )
            .await?;
            Some((cap - day).max(0))
        }
        None => None,
    };
    let monthly_headroom_minor = match caps.monthly_cap_minor {
        Some(cap) => {
            let (first, last) = month_bounds(spend_date);
            let month = held(
                tx,
                "b.spend_date >= $1 AND b.spend_date <= $2",
                &[&first, &last],
            )
            .await?;
            Some((cap - month).max(0))
        }
        None => None,
    };
    Ok(Headroom {
        lifetime_headroom_minor: (campaign.lifetime - lifetime_held).max(0),
        daily_headroom_minor,
        monthly_headroom_minor,
    })
}

/// What `campaign_id` has committed and reserved, and the most held on one day from
/// `from_date` on.
pub async fn position(
    tx: &mut WriteTx,
    campaign_id: &str,
    from_date: &str,
) -> Result<Position, Refusal> {
    let row = sqlx::query(
        "SELECT \
         CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'commit' THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS committed, \
         CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'reservation' AND x.id IS NULL THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS reserved \
         FROM budget_ledger b LEFT JOIN budget_ledger x ON x.reservation_id = b.id WHERE b.campaign_id = $1",
    )
    .bind(campaign_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error("total the budget ledger"))?;
    let peak: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(day_held) FROM (SELECT CAST(SUM(CASE WHEN b.entry_kind = 'commit' THEN b.amount_minor \
         WHEN b.entry_kind = 'reservation' AND x.id IS NULL THEN b.amount_minor ELSE 0 END) AS BIGINT) AS day_held \
         FROM budget_ledger b LEFT JOIN budget_ledger x ON x.reservation_id = b.id \
         WHERE b.campaign_id = $1 AND b.spend_date >= $2 GROUP BY b.spend_date) AS days",
    )
    .bind(campaign_id)
    .bind(from_date)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error("total the budget ledger by day"))?;
    Ok(Position {
        committed_minor: row
            .try_get("committed")
            .map_err(db_error("total the budget ledger"))?,
        reserved_minor: row
            .try_get("reserved")
            .map_err(db_error("total the budget ledger"))?,
        peak_daily_held_minor: peak.unwrap_or(0),
    })
}

/// Reserves `request.amount_minor` against every cap, or refuses with the headroom left.
///
/// A `request_key` used before returns the earlier reservation (`created: false`) when it
/// was for the same campaign and amount, and is refused otherwise: a key names one request.
pub async fn reserve(
    tx: &mut WriteTx,
    backend: Backend,
    caps: OrganisationCaps,
    request: &SpendRequest<'_>,
) -> Result<Reservation, Refusal> {
    if request.amount_minor <= 0 {
        return Err(Refusal::Budget(format!(
            "amount_minor must be positive, got {}",
            request.amount_minor
        )));
    }
    lock(tx, backend).await?;
    if let Some(key) = request.request_key {
        let existing = sqlx::query(
            "SELECT id, campaign_id, entry_kind, amount_minor, spend_date FROM budget_ledger WHERE request_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error("look up a spend request"))?;
        if let Some(row) = existing {
            let read = db_error("read a reservation");
            let campaign_id: String = row.try_get("campaign_id").map_err(read)?;
            let amount: i64 = row
                .try_get("amount_minor")
                .map_err(db_error("read a reservation"))?;
            let kind: String = row
                .try_get("entry_kind")
                .map_err(db_error("read a reservation"))?;
            let spend_date: String = row
                .try_get("spend_date")
                .map_err(db_error("read a reservation"))?;
            if campaign_id != request.campaign_id
                || amount != request.amount_minor
                || kind != "reservation"
            {
                return Err(Refusal::Budget(format!(
                    "this request_id was already used for {kind} of {amount} minor units on campaign {campaign_id} \
                     ({spend_date}); a request_id names one request: use a new one for a different spend"
                )));
            }
            let campaign = campaign_caps(tx, &campaign_id).await?;
            let headroom = headroom_of(tx, caps, &campaign, &campaign_id, &spend_date).await?;
            return Ok(Reservation {
                reservation_id: row.try_get("id").map_err(db_error("read a reservation"))?,
                amount_minor: amount,
                campaign_id,
                currency: campaign.currency,
                spend_date,
                created: false,
                lifetime_headroom_minor: headroom.lifetime_headroom_minor,
                daily_headroom_minor: headroom.daily_headroom_minor,
                monthly_headroom_minor: headroom.monthly_headroom_minor,
            });
        }
    }
    let campaign = campaign_caps(tx, request.campaign_id).await?;
    let currency = campaign.currency.as_str();
    match campaign.status.as_str() {
        "completed" => {
            return Err(Refusal::Budget(format!(
                "campaign {} is completed; it cannot spend more",
                request.campaign_id
            )));
        }
        "draft" => {
            return Err(Refusal::Budget(format!(
                "campaign {} is a draft; launch it (launch_campaign) before it spends",
                request.campaign_id
            )));
        }
        _ => {}
    }

    let amount = request.amount_minor;
    let lifetime_cap = campaign.lifetime;
    let lifetime_held = held(tx, "b.campaign_id = $1", &[request.campaign_id]).await?;
    if lifetime_held.saturating_add(amount) > lifetime_cap {
        return Err(Refusal::Budget(format!(
            "refused: {} would exceed campaign {}'s lifetime cap of {}; {} is already spent or reserved, headroom {}",
            money(amount, currency),
            request.campaign_id,
            money(lifetime_cap, currency),
            money(lifetime_held, currency),
            money((lifetime_cap - lifetime_held).max(0), currency)
        )));
    }
    let mut daily_headroom = None;
    if let Some(daily_cap) = campaign.daily {
        let daily_held = held(
            tx,
            "b.campaign_id = $1 AND b.spend_date = $2",
            &[request.campaign_id, request.spend_date],
        )
        .await?;
        if daily_held.saturating_add(amount) > daily_cap {
            return Err(Refusal::Budget(format!(
                "refused: {} would exceed campaign {}'s daily cap of {} on {}; headroom that day {}",
                money(amount, currency),
                request.campaign_id,
                money(daily_cap, currency),
                request.spend_date,
                money((daily_cap - daily_held).max(0), currency)
            )));
        }
        daily_headroom = Some(daily_cap - daily_held - amount);
    }
    let mut monthly_headroom = None;
    if let Some(monthly_cap) = caps.monthly_cap_minor {
        let (first, last) = month_bounds(request.spend_date);
        let month = request.spend_date.get(..7).unwrap_or(request.spend_date);
        let monthly_held = held(
            tx,
            "b.spend_date >= $1 AND b.spend_date <= $2",
            &[&first, &last],
        )
        .await?;
        if monthly_held.saturating_add(amount) > monthly_cap {
            return Err(Refusal::Budget(format!(
                "refused: {} would exceed the organisation's monthly cap of {} for {month}; headroom this month {}",
                money(amount, currency),
                money(monthly_cap, currency),
                money((monthly_cap - monthly_held).max(0), currency)
            )));
        }
        monthly_headroom = Some(monthly_cap - monthly_held - amount);
    }
    let id = store::ids::new_id("bud");
    sqlx::query(
        "INSERT INTO budget_ledger (id, campaign_id, entry_kind, amount_minor, spend_date, request_key, actor, created_at) \
         VALUES ($1, $2, 'reservation', $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(request.campaign_id)
    .bind(amount)
    .bind(request.spend_date)
    .bind(request.request_key)
    .bind(request.actor)
    .bind(store::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(db_error("reserve spend"))?;
    Ok(Reservation {
        reservation_id: id,
        campaign_id: request.campaign_id.to_string(),
        amount_minor: amount,
        currency: campaign.currency.clone(),
        spend_date: request.spend_date.to_string(),
        created: true,
        lifetime_headroom_minor: lifetime_cap - lifetime_held - amount,
        daily_headroom_minor: daily_headroom,
        monthly_headroom_minor: monthly_headroom,
    })
}

/// A reservation as the ledger holds it, with how it was closed, if it was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ReservationState {
    pub reservation_id: String,
    pub campaign_id: String,
    pub amount_minor: i64,
    pub spend_date: String,
    /// The closing row, when the reservation was committed or released.
    pub closing: Option<Closing>,
}

/// The reservation with this id and its closing, if any; `None` when no reservation has it.
pub async fn reservation(
    tx: &mut WriteTx,
    reservation_id: &str,
) -> Result<Option<ReservationState>, Refusal> {
    let row = sqlx::query(
        "SELECT b.campaign_id, b.amount_minor, b.spend_date, x.id AS closing_id, x.entry_kind AS closing_kind, \
         x.amount_minor AS closing_amount FROM budget_ledger b LEFT JOIN budget_ledger x ON x.reservation_id = b.id \
         WHERE b.id = $1 AND b.entry_kind = 'reservation'",
    )
    .bind(reservation_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error("read a reservation"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let campaign_id: String = row
        .try_get("campaign_id")
        .map_err(db_error("read a reservation"))?;
    let reserved: i64 = row
        .try_get("amount_minor")
        .map_err(db_error("read a reservation"))?;
    let spend_date: String = row
        .try_get("spend_date")
        .map_err(db_error("read a reservation"))?;
    let closing_id: Option<String> = row
        .try_get("closing_id")
        .map_err(db_error("read a reservation"))?;
    let closing = match closing_id {
        Some(entry_id) => {
            let kind: String = row
                .try_get("closing_kind")
                .map_err(db_error("read a reservation"))?;
            let amount: i64 = row
                .try_get("closing_amount")
                .map_err(db_error("read a reservation"))?;
            let committed = if kind == "commit" { amount } else { 0 };
            Some(Closing {
                entry_id,
                reservation_id: reservation_id.to_string(),
                campaign_id: campaign_id.clone(),
                spend_date: spend_date.clone(),
                reserved_minor: reserved,
                committed_minor: committed,
                released_minor: reserved - committed,
            })
        }
        None => None,
    };
    Ok(Some(ReservationState {
        reservation_id: reservation_id.to_string(),
        campaign_id,
        amount_minor: reserved,
        spend_date,
        closing,
    }))
}

/// Closes an open reservation with a commit of `amount_minor` (at most what was reserved;
/// the rest is freed) or, with `None`, a release of all of it.
pub async fn close(
    tx: &mut WriteTx,
    reservation_id: &str,
    amount_minor: Option<i64>,
    actor: &str,
) -> Result<Closing, Refusal> {
    close_with_key(tx, reservation_id, amount_minor, actor, None).await
}

/// [`close`], recording `request_key` on the closing row so that a retry can find it.
/// The caller holds the budget lock ([`lock`]) on Postgres when racing closes are possible;
/// the unique index on `reservation_id` refuses a second closing regardless.
pub async fn close_with_key(
    tx: &mut WriteTx,
    reservation_id: &str,
    amount_minor: Option<i64>,
    actor: &str,
    request_key: Option<&str>,
) -> Result<Closing, Refusal> {
    let row = sqlx::query(
        "SELECT b.campaign_id, b.amount_minor, b.spend_date, b.entry_kind, c.currency, \
         (SELECT COUNT(*) FROM budget_ledger x WHERE x.reservation_id = b.id) AS closings \
         FROM budget_ledger b JOIN campaigns c ON c.id = b.campaign_id WHERE b.id = $1",
    )
    .bind(reservation_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error("read a reservation"))?
    .ok_or_else(|| Refusal::Budget(format!("no reservation has id {reservation_id:?}")))?;
    let kind: String = row
        .try_get("entry_kind")
        .map_err(db_error("read a reservation"))?;
    let closings: i64 = row
        .try_get("closings")
        .map_err(db_error("read a reservation"))?;
    if kind != "reservation" || closings > 0 {
        return Err(Refusal::Budget(format!(
            "{reservation_id} is not an open reservation"
        )));
    }
    let reserved: i64 = row
        .try_get("amount_minor")
        .map_err(db_error("read a reservation"))?;
    let currency: String = row
        .try_get("currency")
        .map_err(db_error("read a reservation"))?;
    let (entry_kind, amount) = match amount_minor {
        Some(amount) if amount < 0 || amount > reserved => {
            return Err(Refusal::Budget(format!(
                "a commit must be between 0 and the {} reserved, got {}",
                money(reserved, &currency),
                money(amount, &currency)
            )));
        }
        Some(amount) => ("commit", amount),
        None => ("release", reserved),
    };
    let campaign_id: String = row
        .try_get("campaign_id")
        .map_err(db_error("read a reservation"))?;
    let spend_date: String = row
        .try_get("spend_date")
        .map_err(db_error("read a reservation"))?;
    let entry_id = store::ids::new_id("bud");
    sqlx::query(
        "INSERT INTO budget_ledger (id, campaign_id, entry_kind, amount_minor, spend_date, actor, created_at, reservation_id, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&entry_id)
    .bind(&campaign_id)
    .bind(entry_kind)
    .bind(amount)
    .bind(&spend_date)
    .bind(actor)
    .bind(store::clock::now())
    .bind(reservation_id)
    .bind(request_key)
    .execute(&mut **tx)
    .await
    .map_err(db_error("close a reservation"))?;
    let committed = if entry_kind == "commit" { amount } else { 0 };
    Ok(Closing {
        entry_id,
        reservation_id: reservation_id.to_string(),
        campaign_id,
        spend_date,
        reserved_minor: reserved,
        committed_minor: committed,
        released_minor: reserved - committed,
    })
}

/// The id of the reservation made with `request_key`, if any.
pub async fn reservation_by_key(
    tx: &mut WriteTx,
    request_key: &str,
) -> Result<Option<String>, Refusal> {
    sqlx::query_scalar(
        "SELECT id FROM budget_ledger WHERE request_key = $1 AND entry_kind = 'reservation'",
    )
    .bind(request_key)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error("look up a spend request"))
}

/// Releases every open reservation of `campaign_id` (e.g. when it is paused); returns how
/// much went back to the caps, minor units.
pub async fn release_open(
    tx: &mut WriteTx,
    backend: Backend,
    campaign_id: &str,
    actor: &str,
) -> Result<i64, Refusal> {
    lock(tx, backend).await?;
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT b.id FROM budget_ledger b WHERE b.campaign_id = $1 AND b.entry_kind = 'reservation' \
         AND NOT EXISTS (SELECT 1 FROM budget_ledger x WHERE x.reservation_id = b.id) ORDER BY b.id",
    )
    .bind(campaign_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error("find open reservations"))?;
    let mut released = 0i64;
    for id in open {
        released += close(tx, &id, None, actor).await?.released_minor;
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_the_sign() {
        assert_eq!(money(0, "USD"), "0.00 USD");
        assert_eq!(money(1_000, "USD"), "10.00 USD");
        assert_eq!(money(125_000, "EUR"), "1,250.00 EUR");
        assert_eq!(money(123_456_789, "USD"), "1,234,567.89 USD");
        assert_eq!(money(-50, "USD"), "-0.50 USD");
    }
}
