DROP TABLE paid_media_purchases;
DROP TABLE paid_media_offers;
ALTER TABLE community_posts DROP COLUMN media_kinds;
DROP TABLE media_files;
