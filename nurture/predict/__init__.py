"""The predictive score: a learned probability that a lead converts, beside the points score.

Training needs the optional extra (``pip install 'nurture[predict]'``, scikit-learn); a trained
model is stored as plain numbers, so using it (refreshing ``lead.conversion_probability``) needs
numpy only.
"""
