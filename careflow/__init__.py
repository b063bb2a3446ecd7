"""careflow: referral pathways for the care and protection of migrant children (流动儿童关爱保护)."""
