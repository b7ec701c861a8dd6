-- The model registry (issue 8). A model version is a row of `models`: its kind, version,
-- status (candidate, active, retired; one active per kind, by the partial unique index of
-- 0001), parameters (for a learnt version, the whole model: feature encoding, trees and
-- training distributions), evaluation metrics and where it was learnt from. The rule-based
-- defaults in the `scoring` crate are version 1 of each kind and start active.
ALTER TABLE models ADD COLUMN learnt_from TEXT;
ALTER TABLE models ADD COLUMN activated_at TEXT;
ALTER TABLE models ADD COLUMN retired_at TEXT;

INSERT INTO models (id, name, kind, version, status, params_json, metrics_json, baseline_json, trained_at, created_at, learnt_from, activated_at)
VALUES
    ('mdl_lead_v1', 'lead_scorer', 'lead', 1, 'active', '{"rule_based": true}', NULL, NULL, NULL, '2026-01-01T00:00:00.000000Z', 'rule-based default (scoring::lead)', '2026-01-01T00:00:00.000000Z'),
    ('mdl_churn_v1', 'churn_risk', 'churn', 1, 'active', '{"rule_based": true}', NULL, NULL, NULL, '2026-01-01T00:00:00.000000Z', 'rule-based default (scoring::churn)', '2026-01-01T00:00:00.000000Z'),
    ('mdl_conversion_v1', 'trial_conversion', 'conversion', 1, 'active', '{"rule_based": true}', NULL, NULL, NULL, '2026-01-01T00:00:00.000000Z', 'rule-based default (scoring::conversion)', '2026-01-01T00:00:00.000000Z'),
    ('mdl_health_v1', 'account_health', 'health', 1, 'active', '{"rule_based": true}', NULL, NULL, NULL, '2026-01-01T00:00:00.000000Z', 'rule-based default (scoring::health)', '2026-01-01T00:00:00.000000Z');

-- How long a prediction took, when the caller says (log_prediction); NULL for the servers' own.
ALTER TABLE predictions ADD COLUMN latency_micros BIGINT;
