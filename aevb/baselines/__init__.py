"""The paper's baselines (§4, §5): wake-sleep; Monte Carlo EM and full VB are to come."""
