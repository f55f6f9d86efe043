"""Booking engine: rules, availability, race-free bookings, contracts, violations, notifications, calendars."""
