"""The certification plan: one requirement per thing the DIP Manager's guidance asks a party to prove."""
