"""riftdrill.chaos"""
