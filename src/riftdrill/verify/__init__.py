"""riftdrill.verify"""
