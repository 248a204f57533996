-- What the HTTP API needs of its own: idempotency keys of `POST /api/v1/jobs`.
--
-- * `api_idempotency_keys`: one row per `Idempotency-Key` a client sent,
--   naming the batch (of one job) the first request created. The key is
--   the primary key, and the row is written in the transaction that
--   creates the batch: of two identical requests racing, one commits and
--   the other finds its key taken, rolls its batch back and answers with
--   the first one's. `request` is what the key was used for (kind and
--   instance), so the same key reused for another request is refused.

CREATE TABLE api_idempotency_keys (
    key        VARCHAR(255) PRIMARY KEY,
    request    TEXT         NOT NULL,
    batch_id   UUID         NOT NULL REFERENCES batches (id),
    created_at TIMESTAMPTZ  NOT NULL
);
