//! Budget caps: spend is reserved against a campaign's lifetime cap, its daily cap and the
//! organisation's monthly cap in one step, then committed (up to the amount reserved) or
//! released. The ledger is append-only; what a cap holds is the committed spend plus the
//! reservations not yet closed.

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
        match std::env::var(MONTHLY_CAP_VAR) {
            Ok(text) if !text.trim().is_empty() => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|cap| *cap >= 0)
                .map(|cap| OrganisationCaps { monthly_cap_minor: Some(cap) })
                .ok_or_else(|| format!("{MONTHLY_CAP_VAR} must be a whole number of minor units (cents), got {text:?}")),
            _ => Ok(OrganisationCaps::default()),
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
    /// False when `request_key` had been used before; this is the earlier reservation.
    pub created: bool,
    /// Lifetime cap minus what is held after this reservation, minor units.
    pub lifetime_headroom_minor: i64,
    /// Daily cap minus what is held that day, minor units; none when there is no daily cap.
    pub daily_headroom_minor: Option<i64>,
    /// Monthly organisation cap minus what is held that month; none when there is no cap.
    pub monthly_headroom_minor: Option<i64>,
}

/// Serialises reservations against the organisation's monthly cap on Postgres.
const POSTGRES_BUDGET_LOCK: i64 = 0x7265_766f_7073_0002;

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

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

/// Reserves `request.amount_minor` against every cap, or refuses with the headroom left.
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
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POSTGRES_BUDGET_LOCK)
            .execute(&mut **tx)
            .await
            .map_err(db_error("lock the budget"))?;
    }
    if let Some(key) = request.request_key {
        let existing = sqlx::query(
            "SELECT id, campaign_id, amount_minor FROM budget_ledger WHERE request_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error("look up a spend request"))?;
        if let Some(row) = existing {
            let campaign_id: String = row
                .try_get("campaign_id")
                .map_err(db_error("read a reservation"))?;
            let lifetime: i64 =
                sqlx::query_scalar("SELECT budget_lifetime_minor FROM campaigns WHERE id = $1")
                    .bind(&campaign_id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db_error("read a campaign"))?;
            let held_now = held(tx, "b.campaign_id = $1", &[&campaign_id]).await?;
            return Ok(Reservation {
                reservation_id: row.try_get("id").map_err(db_error("read a reservation"))?,
                amount_minor: row
                    .try_get("amount_minor")
                    .map_err(db_error("read a reservation"))?,
                campaign_id,
                created: false,
                lifetime_headroom_minor: lifetime - held_now,
                daily_headroom_minor: None,
                monthly_headroom_minor: None,
            });
        }
    }
    let campaign = sqlx::query(
        "SELECT budget_lifetime_minor, budget_daily_minor, status FROM campaigns WHERE id = $1",
    )
    .bind(request.campaign_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error("read a campaign"))?
    .ok_or_else(|| {
        Refusal::Budget(format!(
            "no campaign has id {:?}; list campaigns to find it",
            request.campaign_id
        ))
    })?;
    let lifetime_cap: i64 = campaign
        .try_get("budget_lifetime_minor")
        .map_err(db_error("read a campaign"))?;
    let daily_cap: Option<i64> = campaign
        .try_get("budget_daily_minor")
        .map_err(db_error("read a campaign"))?;
    let status: String = campaign
        .try_get("status")
        .map_err(db_error("read a campaign"))?;
    if status == "completed" {
        return Err(Refusal::Budget(format!(
            "campaign {} is completed; it cannot spend more",
            request.campaign_id
        )));
    }

    let amount = request.amount_minor;
    let lifetime_held = held(tx, "b.campaign_id = $1", &[request.campaign_id]).await?;
    if lifetime_held + amount > lifetime_cap {
        return Err(Refusal::Budget(format!(
            "refused: {} would exceed campaign {}'s lifetime cap of {}; {} is already spent or reserved, headroom {}",
            money(amount),
            request.campaign_id,
            money(lifetime_cap),
            money(lifetime_held),
            money((lifetime_cap - lifetime_held).max(0))
        )));
    }
    let mut daily_headroom = None;
    if let Some(daily_cap) = daily_cap {
        let daily_held = held(
            tx,
            "b.campaign_id = $1 AND b.spend_date = $2",
            &[request.campaign_id, request.spend_date],
        )
        .await?;
        if daily_held + amount > daily_cap {
            return Err(Refusal::Budget(format!(
                "refused: {} would exceed campaign {}'s daily cap of {} on {}; headroom that day {}",
                money(amount),
                request.campaign_id,
                money(daily_cap),
                request.spend_date,
                money((daily_cap - daily_held).max(0))
            )));
        }
        daily_headroom = Some(daily_cap - daily_held - amount);
    }
    let mut monthly_headroom = None;
    if let Some(monthly_cap) = caps.monthly_cap_minor {
        let month = request.spend_date.get(..7).unwrap_or(request.spend_date);
        let first = format!("{month}-01");
        let last = format!("{month}-31");
        let monthly_held = held(
            tx,
            "b.spend_date >= $1 AND b.spend_date <= $2",
            &[&first, &last],
        )
        .await?;
        if monthly_held + amount > monthly_cap {
            return Err(Refusal::Budget(format!(
                "refused: {} would exceed the organisation's monthly cap of {} for {month}; headroom this month {}",
                money(amount),
                money(monthly_cap),
                money((monthly_cap - monthly_held).max(0))
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
        created: true,
        lifetime_headroom_minor: lifetime_cap - lifetime_held - amount,
        daily_headroom_minor: daily_headroom,
        monthly_headroom_minor: monthly_headroom,
    })
}

/// Closes an open reservation with a commit of `amount_minor` (at most what was reserved;
/// the rest is freed) or, with `None`, a release of all of it.
pub async fn close(
    tx: &mut WriteTx,
    reservation_id: &str,
    amount_minor: Option<i64>,
    actor: &str,
) -> Result<(), Refusal> {
    let row = sqlx::query(
        "SELECT campaign_id, amount_minor, spend_date, entry_kind, \
         (SELECT COUNT(*) FROM budget_ledger c WHERE c.reservation_id = b.id) AS closings \
         FROM budget_ledger b WHERE id = $1",
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
    let (entry_kind, amount) = match amount_minor {
        Some(amount) if amount < 0 || amount > reserved => {
            return Err(Refusal::Budget(format!(
                "a commit must be between 0 and the {} reserved, got {}",
                money(reserved),
                money(amount)
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
    sqlx::query(
        "INSERT INTO budget_ledger (id, campaign_id, entry_kind, amount_minor, spend_date, actor, created_at, reservation_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(store::ids::new_id("bud"))
    .bind(&campaign_id)
    .bind(entry_kind)
    .bind(amount)
    .bind(&spend_date)
    .bind(actor)
    .bind(store::clock::now())
    .bind(reservation_id)
    .execute(&mut **tx)
    .await
    .map_err(db_error("close a reservation"))?;
    Ok(())
}
