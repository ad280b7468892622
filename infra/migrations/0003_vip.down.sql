DROP TABLE vip_passes;
DROP TABLE payments;
DROP TABLE subscriptions;
