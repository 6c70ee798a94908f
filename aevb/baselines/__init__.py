"""The paper's baselines (§4, §5, App. E): wake-sleep and Monte Carlo EM. (Full VB, App. F, is ``aevb.full_vb``.)"""
