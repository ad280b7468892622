DROP TABLE door_settings;
