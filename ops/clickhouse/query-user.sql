-- The query API's ClickHouse user on a ClickHouse server: read-only on the
-- three tables the query API reads, bounded by a settings profile, and fenced
-- by row policies so the database itself refuses cross-tenant reads even if
-- the application had a bug. Apply as a user with access management:
--   clickhouse-client --user admin --multiquery < ops/clickhouse/query-user.sql
-- (replace the password first; see README.md in this directory). Every
-- statement is idempotent. The database is `palisade` (CLICKHOUSE_DATABASE).
--
-- The tenant travels in the custom setting SQL_palisade_tenant, which the app
-- sets on every query when PALISADE_QUERY_TENANT_SETTING=SQL_palisade_tenant.
-- The server must accept the SQL_ prefix: config.d/palisade-custom-settings.xml.

CREATE SETTINGS PROFILE IF NOT EXISTS palisade_query_profile SETTINGS
    -- The app sends tighter per-query values (PALISADE_QUERY_*); these are the
    -- ceilings it cannot raise, whatever it sends.
    max_execution_time = 15 MAX 60,
    max_rows_to_read = 50000000 MAX 1000000000,
    read_overflow_mode = 'throw' CONST,
    max_result_rows = 100000 MAX 10000000,
    max_result_bytes = 67108864 MAX 1073741824,
    result_overflow_mode = 'throw' CONST,
    max_memory_usage = 1073741824 MAX 4294967296,
    max_threads = 2 MAX 8,
    max_concurrent_queries_for_user = 32,
    allow_ddl = 0 CONST,
    allow_introspection_functions = 0 CONST,
    -- Fail closed: a query without the tenant setting errors in the row policy.
    SQL_palisade_tenant = '';

CREATE USER IF NOT EXISTS palisade_query
    IDENTIFIED WITH sha256_password BY 'CHANGE-ME'
    DEFAULT DATABASE palisade
    SETTINGS PROFILE 'palisade_query_profile';

-- SELECT only, on exactly the tables the query API reads. No INSERT, no DDL,
-- no control-plane tables (tenants, api_keys), no system tables beyond the
-- defaults every user has.
REVOKE ALL ON *.* FROM palisade_query;
GRANT SELECT ON palisade.events TO palisade_query;
GRANT SELECT ON palisade.ingestion_warnings TO palisade_query;
GRANT SELECT ON palisade.dead_letters TO palisade_query;

-- The fence: palisade_query sees only rows of the tenant named in
-- SQL_palisade_tenant. An empty setting matches no tenant (ids are ten_…).
CREATE ROW POLICY IF NOT EXISTS palisade_tenant_events ON palisade.events
    FOR SELECT USING tenant_id = getSetting('SQL_palisade_tenant') AND tenant_id != '' TO palisade_query;
CREATE ROW POLICY IF NOT EXISTS palisade_tenant_warnings ON palisade.ingestion_warnings
    FOR SELECT USING tenant_id = getSetting('SQL_palisade_tenant') AND tenant_id != '' TO palisade_query;
CREATE ROW POLICY IF NOT EXISTS palisade_tenant_dead_letters ON palisade.dead_letters
    FOR SELECT USING tenant_id = getSetting('SQL_palisade_tenant') AND tenant_id != '' TO palisade_query;

-- Once a table has a row policy, users with no policy on it may see nothing
-- (depending on access_control_improvements.users_without_row_policies_can_read_rows).
-- Every other user keeps seeing every row: the ingest writer's duplicate check,
-- the admin API's tenant stats, backups.
CREATE ROW POLICY IF NOT EXISTS palisade_all_rows_events ON palisade.events
    FOR SELECT USING 1 TO ALL EXCEPT palisade_query;
CREATE ROW POLICY IF NOT EXISTS palisade_all_rows_warnings ON palisade.ingestion_warnings
    FOR SELECT USING 1 TO ALL EXCEPT palisade_query;
CREATE ROW POLICY IF NOT EXISTS palisade_all_rows_dead_letters ON palisade.dead_letters
    FOR SELECT USING 1 TO ALL EXCEPT palisade_query;
