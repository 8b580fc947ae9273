DROP TYPE share_status;
