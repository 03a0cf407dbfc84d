"""riftdrill.engines"""
