DROP TABLE received_payments;
DROP TABLE dead_letters;
