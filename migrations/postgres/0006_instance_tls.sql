-- How each instance's connection is protected (TLS), as file references.
--
-- * `instances.tls_mode`: `disable`, `prefer`, `require`, `verify-ca` or
--   `verify-full`, the canonical (PostgreSQL `sslmode`) names; a MySQL or
--   MariaDB instance is shown with its engine's own words (`disabled`,
--   `preferred`, `required`, `verify_ca`, `verify_identity`). Existing rows
--   read `prefer`, what their connections did before: TLS when offered.
-- * `tls_ca_file`, `tls_cert_file`, `tls_key_file`: paths on the workers,
--   never the certificates or the key themselves, like `password_ref`.
--   The client certificate and its key come together or not at all.

ALTER TABLE instances
    ADD COLUMN tls_mode VARCHAR(16) NOT NULL DEFAULT 'prefer'
        CHECK (tls_mode IN ('disable', 'prefer', 'require', 'verify-ca', 'verify-full')),
    ADD COLUMN tls_ca_file VARCHAR(1024),
    ADD COLUMN tls_cert_file VARCHAR(1024),
    ADD COLUMN tls_key_file VARCHAR(1024),
    ADD CONSTRAINT ck_instances_tls_client_pair
        CHECK ((tls_cert_file IS NULL) = (tls_key_file IS NULL));
