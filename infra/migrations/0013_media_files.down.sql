ALTER TABLE community_posts DROP COLUMN media_kinds;
DROP TABLE media_files;
