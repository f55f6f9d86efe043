"""Innovation-voucher (科技创新券) policies, eligibility, claims, notice, payout and clawback (issue 6)."""
