DROP TABLE auctions;
DROP TABLE shop_stock_claims;
DROP TABLE shop_purchases;
