DROP INDEX miners_login_lower_key;
DROP TABLE miners;
