-- How each instance's connection is protected (TLS), as file references.
-- Same change as `migrations/postgres/0006_instance_tls.sql` (read its
-- header), in the SQLite dialect: one column per statement, each CHECK on
-- its own column.

ALTER TABLE instances ADD COLUMN tls_mode TEXT NOT NULL DEFAULT 'prefer'
    CHECK (tls_mode IN ('disable', 'prefer', 'require', 'verify-ca', 'verify-full'));
ALTER TABLE instances ADD COLUMN tls_ca_file TEXT CHECK (length(tls_ca_file) <= 1024);
ALTER TABLE instances ADD COLUMN tls_cert_file TEXT CHECK (length(tls_cert_file) <= 1024);
ALTER TABLE instances ADD COLUMN tls_key_file TEXT CHECK (length(tls_key_file) <= 1024);
