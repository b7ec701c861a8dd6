-- Records a CRM sync pass could not link (a deal or contact whose company/account is not
-- synced yet). A pass that completes with any does not move `synced_through`, so the next
-- pass asks again for the same records and links them once their accounts are synced.
ALTER TABLE sync_cursors ADD COLUMN pass_unlinked BIGINT NOT NULL DEFAULT 0;
