"""The phrases the comment generator fills and strings together, in English and French.

Only data lives here (comments/generator.py holds the logic). Every phrase is about one reason of the
taxonomy, in one polarity: `complaint` (negative), `praise` (positive), `question` (neutral: a question,
a request or a plain statement), `notice` (neutral, high churn risk: a calm request to cancel). Slots
({amount}, {tenure}, {service}, {competitor}, ...) are filled from the customer's row, so two customers
rarely write the same sentence. French comments read like Quebec customers' (amounts as "89,10 $"), the
Telco data being North American; {client}, {satisfait}, ... agree with the customer's gender.
"""

from __future__ import annotations

Bank = dict[str, dict[str, dict[str, tuple[str, ...]]]]  # language -> reason -> polarity -> phrases

CLAUSES: Bank = {
    "en": {
        "price": {
            "complaint": (
                "{amount} a month is way too much for what I get.",
                "My bill went up by {increase} again and nobody warned me.",
                "I pay {amount} every month and the price keeps creeping up.",
                "For {amount} a month I expected a lot better than this.",
                "You raised my price by {increase} without a word of explanation.",
                "Paying {amount} a month for this is frankly a rip-off.",
                "The promotional price ended and now I'm paying {amount}, which is ridiculous.",
            ),
            "praise": (
                "{amount} a month is a fair price for what I get.",
                "Honestly good value for the money.",
                "The price hasn't gone up in {tenure}, which I appreciate.",
                "I compared plans and yours is still the best deal for me.",
                "Happy with what I pay, {amount} is reasonable.",
            ),
            "question": (
                "Is there a cheaper plan than the one I'm on ({amount} a month)?",
                "Can someone explain why my monthly price is now {amount}?",
                "Do you have any discount for customers who've been here {tenure}?",
                "What would my bill be if I dropped the streaming add-ons?",
                "Are there any promotions coming up on {service} plans?",
            ),
        },
        "network_quality": {
            "complaint": (
                "My {service} drops out every evening around 8pm.",
                "The connection has gone down {times} times this month.",
                "Speeds are nowhere near what you advertise, I barely get a third of it.",
                "Video calls freeze constantly, I can't work from home like this.",
                "Another outage today, the third one this week.",
                "The {service} was down for {days} days and I got no warning.",
                "Streaming buffers every few minutes even at night.",
            ),
            "praise": (
                "The {service} is really fast, downloads are done in seconds.",
                "Connection has been rock solid, not a single outage in months.",
                "Streaming in 4K with the whole family online and no buffering.",
                "Since switching to {service} everything just works.",
                "Speed is great, I get what I pay for.",
            ),
            "question": (
                "What speed should I actually be getting on my {service} plan?",
                "Is there planned maintenance in my area this week?",
                "Would a new router improve the wifi upstairs?",
                "Can I upgrade to a faster {service} plan?",
                "How do I run a speed test that your support will accept?",
            ),
        },
        "customer_service": {
            "complaint": (
                "I called support {times} times and got a different answer every time.",
                "Waited on hold for over an hour, then the call dropped.",
                "The agent was rude and hung up on me.",
                "Nobody ever calls back when they say they will.",
                "Support keeps telling me to restart the router, as if I hadn't tried.",
                "I opened a ticket {days} days ago and still no reply.",
            ),
            "praise": (
                "The support agent I spoke to was patient and fixed it in ten minutes.",
                "Customer service has always been friendly and quick with me.",
                "Big thanks to the technician who came out, very professional.",
                "Support actually called me back the next day, impressive.",
                "Whenever I've had a problem in {tenure}, someone helped me quickly.",
            ),
            "question": (
                "What are the opening hours of phone support?",
                "Is there a chat option instead of calling?",
                "Can a technician come on a Saturday?",
                "How do I follow up on my support ticket?",
                "Who do I contact to book an installation appointment?",
            ),
        },
        "billing": {
            "complaint": (
                "I was charged twice this month and still haven't been refunded.",
                "My bill has a {fee} fee I never agreed to.",
                "The electronic check payment failed and you charged me a late fee anyway.",
                "The paperless bill never arrived, then I got a late payment notice.",
                "My invoice is impossible to understand, charges everywhere.",
                "You billed me for a service I cancelled {days} weeks ago.",
            ),
            "praise": (
                "Autopay works perfectly, I never have to think about my bill.",
                "The bill is clear and always arrives on time.",
                "Switching to paperless billing was easy.",
                "Billing got a refund sorted for me in a day, thanks.",
            ),
            "question": (
                "How do I change my billing address?",
                "Can I move my payment date to the 15th?",
                "How do I switch from electronic check to automatic card payment?",
                "Where can I download my past invoices?",
                "Can I get a paper bill again instead of paperless?",
                "What is the {fee} charge on my last invoice?",
            ),
        },
        "contract_terms": {
            "complaint": (
                "The early termination fee is outrageous.",
                "Nobody told me the contract would renew automatically.",
                "Month-to-month costs much more and you won't explain why.",
                "The terms changed in the middle of my contract without my consent.",
                "I was promised no commitment and now there's a 12-month clause.",
            ),
            "praise": (
                "I like that month-to-month lets me leave anytime, so I don't feel trapped.",
                "The two-year contract locked my price, which was a good call.",
                "The contract terms were explained clearly when I signed.",
                "Nice that there was no commitment required.",
            ),
            "question": (
                "When does my contract end?",
                "What would it cost to switch from month-to-month to a one-year contract?",
                "Is there a fee to end my contract early?",
                "Does my contract renew automatically?",
                "Can I change plans without restarting my contract?",
            ),
            "notice": (
                "My contract ends next month and I won't renew it. Please close the account on that date.",
                "I'd like to end my month-to-month service at the end of this billing cycle.",
            ),
        },
        "competitor_offer": {
            "complaint": (
                "{competitor} is offering the same speed for {cheaper} less a month.",
                "My neighbour pays half what I pay with {competitor}.",
                "{competitor} gives new customers three months free, you give nothing.",
                "Got a letter from {competitor} with a much better deal than yours.",
                "{competitor} just launched fiber in my street at a lower price.",
            ),
            "praise": (
                "I looked at {competitor} but you are still better for me.",
                "Tried {competitor} for a year, came back, and don't regret it.",
            ),
            "question": (
                "Can you match the offer {competitor} sent me?",
                "{competitor} offers {cheaper} less a month, do you have anything similar?",
                "Do you have a retention offer? {competitor} is cheaper.",
            ),
            "notice": (
                "I have decided to go with {competitor}; please cancel my service on the 1st.",
                "I'm moving my {service} to {competitor}. Please send me the final bill.",
            ),
        },
        "moving": {
            "complaint": (
                "I'm moving to {city} and you don't even cover the area.",
                "I asked to transfer my service to my new address and it's been {days} weeks.",
                "Moving house with you has been a nightmare.",
                "You charged me a transfer fee just because I moved across town.",
            ),
            "praise": (
                "Moving my service to the new apartment took one phone call.",
                "The move to {city} went smoothly, internet was on the day we arrived.",
                "Thanks for transferring everything so quickly when we moved.",
            ),
            "question": (
                "I'm moving to {city} next month, can I take my service with me?",
                "How do I transfer my {service} to a new address?",
                "Do you cover {city}? We're moving there soon.",
                "We're moving abroad: what do I need to do to close the account?",
            ),
            "notice": (
                "We're moving to {city}, where you have no service, so please cancel our account at the end of the month.",
                "I'm relocating abroad next month. Please close my account and send the final bill.",
            ),
        },
        "other": {
            "complaint": (
                "The mobile app logs me out every single time.",
                "The TV channel lineup changed and my favourite channels are gone.",
                "The router you sent is noisy and overheats.",
                "Your website keeps crashing when I try to pay.",
                "The installer left cables all over my living room.",
            ),
            "praise": (
                "I've been with you for {tenure} and I'm happy overall.",
                "Everything works, no complaints at all.",
                "The new app is much nicer than the old one.",
                "Good service overall, I recommend you to friends.",
                "The streaming bundle is great, the kids love it.",
            ),
            "question": (
                "Can I add a second line to my account?",
                "How do I reset my voicemail password?",
                "Is there a way to add StreamingTV to my plan?",
                "Can I get a replacement remote for the TV box?",
                "How do I add my partner as an authorised user on the account?",
            ),
        },
    },
    "fr": {
        "price": {
            "complaint": (
                "{amount} par mois, c'est beaucoup trop cher pour ce que j'ai.",
                "Ma facture a encore augmenté de {increase} sans aucun avertissement.",
                "Je paie {amount} chaque mois et le prix n'arrête pas de monter.",
                "Pour {amount} par mois, je m'attendais à beaucoup mieux.",
                "Vous avez augmenté mon forfait de {increase} sans explication.",
                "La promotion est terminée et je paie maintenant {amount}, c'est abusé.",
            ),
            "praise": (
                "{amount} par mois, c'est un prix correct pour ce que j'ai.",
                "Bon rapport qualité-prix, honnêtement.",
                "Le prix n'a pas bougé depuis {tenure}, j'apprécie.",
                "J'ai comparé et votre forfait reste le plus avantageux pour moi.",
            ),
            "question": (
                "Existe-t-il un forfait moins cher que le mien ({amount} par mois) ?",
                "Pourquoi ma facture mensuelle est-elle passée à {amount} ?",
                "Avez-vous une réduction pour les clients fidèles depuis {tenure} ?",
                "Combien paierais-je sans les options de streaming ?",
            ),
        },
        "network_quality": {
            "complaint": (
                "{service} coupe tous les soirs vers 20 h.",
                "La connexion a sauté {times} fois ce mois-ci.",
                "Le débit n'a rien à voir avec ce qui est annoncé.",
                "Les appels vidéo gèlent sans arrêt, impossible de télétravailler.",
                "Encore une panne aujourd'hui, la troisième cette semaine.",
                "Plus d'internet pendant {days} jours et aucune information de votre part.",
            ),
            "praise": (
                "{service} est vraiment rapide, tout se télécharge en quelques secondes.",
                "Connexion très stable, pas une seule coupure depuis des mois.",
                "On regarde des films en 4K à plusieurs sans aucune coupure.",
                "Le débit est excellent, j'en ai pour mon argent.",
            ),
            "question": (
                "Quel débit devrais-je avoir avec mon forfait ?",
                "Y a-t-il des travaux prévus dans mon secteur cette semaine ?",
                "Un nouveau routeur améliorerait-il le wifi à l'étage ?",
                "Est-ce que je peux passer à un forfait plus rapide ?",
            ),
        },
        "customer_service": {
            "complaint": (
                "J'ai appelé le service client {times} fois et j'ai eu une réponse différente à chaque fois.",
                "Plus d'une heure d'attente au téléphone, puis l'appel a coupé.",
                "Le conseiller a été désagréable et m'a raccroché au nez.",
                "Personne ne rappelle jamais comme promis.",
                "J'ai ouvert un ticket il y a {days} jours, toujours aucune réponse.",
            ),
            "praise": (
                "La conseillère a été patiente et a tout réglé en dix minutes.",
                "Le service client a toujours été aimable et rapide avec moi.",
                "Merci au technicien venu à domicile, très professionnel.",
                "On m'a rappelé dès le lendemain, impressionnant.",
            ),
            "question": (
                "Quels sont les horaires du service client ?",
                "Est-ce qu'il y a un chat plutôt que le téléphone ?",
                "Un technicien peut-il passer un samedi ?",
                "Comment suivre mon ticket d'assistance ?",
            ),
        },
        "billing": {
            "complaint": (
                "J'ai été prélevé deux fois ce mois-ci et toujours pas remboursé.",
                "Il y a des frais de {fee} sur ma facture que je n'ai jamais acceptés.",
                "Le paiement par chèque électronique a échoué et vous m'avez quand même facturé des frais de retard.",
                "Je n'ai jamais reçu la facture électronique, puis j'ai eu un avis de retard.",
                "Ma facture est incompréhensible, il y a des frais partout.",
            ),
            "praise": (
                "Le prélèvement automatique marche parfaitement, je n'y pense jamais.",
                "La facture est claire et arrive toujours à temps.",
                "Passer à la facture électronique a été très simple.",
            ),
            "question": (
                "Comment changer mon adresse de facturation ?",
                "Puis-je déplacer la date de prélèvement au 15 du mois ?",
                "Comment passer du chèque électronique au paiement automatique par carte ?",
                "Où puis-je télécharger mes anciennes factures ?",
                "À quoi correspondent les frais de {fee} sur ma dernière facture ?",
            ),
        },
        "contract_terms": {
            "complaint": (
                "Les frais de résiliation anticipée sont scandaleux.",
                "Personne ne m'a dit que le contrat se renouvelait automatiquement.",
                "Le sans-engagement coûte bien plus cher et personne ne sait m'expliquer pourquoi.",
                "Les conditions ont changé en plein contrat sans mon accord.",
            ),
            "praise": (
                "J'aime pouvoir partir quand je veux avec le mois par mois.",
                "Le contrat de deux ans a bloqué mon prix, bonne décision.",
                "Les conditions du contrat m'ont été bien expliquées à la signature.",
            ),
            "question": (
                "Quand se termine mon contrat ?",
                "Combien coûterait le passage du mois par mois à un contrat d'un an ?",
                "Y a-t-il des frais si je mets fin au contrat plus tôt ?",
                "Est-ce que mon contrat se renouvelle automatiquement ?",
            ),
            "notice": ("Mon contrat se termine le mois prochain et je ne le renouvellerai pas. Merci de fermer le compte à cette date.",),
        },
        "competitor_offer": {
            "complaint": (
                "{competitor} propose le même débit pour {cheaper} de moins par mois.",
                "Mon voisin paie moitié moins cher chez {competitor}.",
                "{competitor} offre trois mois gratuits aux nouveaux clients, vous rien.",
                "J'ai reçu une offre de {competitor} bien plus intéressante que la vôtre.",
            ),
            "praise": (
                "J'ai regardé chez {competitor} mais vous restez meilleurs pour moi.",
                "J'ai essayé {competitor} un an, je suis {revenu} et je ne le regrette pas.",
            ),
            "question": (
                "Pouvez-vous vous aligner sur l'offre que {competitor} m'a envoyée ?",
                "{competitor} est {cheaper} moins cher par mois, avez-vous quelque chose d'équivalent ?",
            ),
            "notice": ("J'ai choisi de passer chez {competitor}, merci de résilier mon service au 1er du mois.",),
        },
        "moving": {
            "complaint": (
                "Je déménage à {city} et vous ne couvrez même pas le secteur.",
                "J'ai demandé le transfert de ma ligne il y a {days} semaines, toujours rien.",
                "Déménager avec vous a été un cauchemar.",
            ),
            "praise": (
                "Le transfert de ma ligne au nouvel appartement s'est fait en un appel.",
                "Le déménagement à {city} s'est bien passé, internet marchait dès notre arrivée.",
            ),
            "question": (
                "Je déménage à {city} le mois prochain, puis-je garder mon service ?",
                "Comment transférer ma ligne à ma nouvelle adresse ?",
                "Couvrez-vous {city} ? Nous y déménageons bientôt.",
            ),
            "notice": (
                "Nous déménageons à {city}, où vous n'avez pas de réseau : merci de résilier à la fin du mois.",
                "Je pars vivre à l'étranger le mois prochain, merci de fermer mon compte.",
            ),
        },
        "other": {
            "complaint": (
                "L'application mobile me déconnecte à chaque fois.",
                "Les chaînes ont changé et mes préférées ont disparu.",
                "Le routeur que vous m'avez envoyé est bruyant et chauffe.",
                "Votre site plante quand j'essaie de payer.",
            ),
            "praise": (
                "{client} depuis {tenure} et {satisfait} dans l'ensemble.",
                "Tout fonctionne, rien à redire.",
                "La nouvelle application est bien plus pratique.",
                "Bon service dans l'ensemble, je vous recommande à mes proches.",
            ),
            "question": (
                "Puis-je ajouter une deuxième ligne à mon compte ?",
                "Comment réinitialiser le mot de passe de ma boîte vocale ?",
                "Puis-je ajouter une option télé à mon forfait ?",
                "Comment ajouter mon conjoint comme utilisateur autorisé ?",
            ),
        },
    },
}

# Short comments: a few words, as typed on a phone. Neutral short comments reuse the questions.
SHORT: Bank = {
    "en": {
        "price": {"complaint": ("Too expensive.", "Price went up AGAIN.", "{amount}?? Seriously?"), "praise": ("Fair price.", "Good value.")},
        "network_quality": {
            "complaint": ("Internet down again.", "Slow as hell tonight.", "No connection since this morning."),
            "praise": ("Super fast internet!", "Rock solid connection.", "Great speed."),
        },
        "customer_service": {
            "complaint": ("Worst support ever.", "Still waiting for a callback."),
            "praise": ("Great support, thanks!", "Helpful agent today."),
        },
        "billing": {"complaint": ("Double charged. Fix it.", "Wrong bill again."), "praise": ("Autopay is easy.", "Clear bill, thanks.")},
        "contract_terms": {"complaint": ("Ridiculous cancellation fee.", "Hidden contract terms."), "praise": ("Love the no-commitment plan.",)},
        "competitor_offer": {
            "complaint": ("{competitor} is cheaper.", "{competitor} offered me a better deal."),
            "praise": ("Still better than {competitor}.",),
        },
        "moving": {"complaint": ("No coverage at my new place.",), "praise": ("Easy move, thanks!",)},
        "other": {"complaint": ("App broken again.", "Router died."), "praise": ("All good!", "Happy customer.", "Works great.")},
    },
    "fr": {
        "price": {
            "complaint": ("Trop cher.", "Encore une augmentation !", "{amount} ?? Sérieux ?"),
            "praise": ("Prix correct.", "Bon rapport qualité-prix."),
        },
        "network_quality": {
            "complaint": ("Encore une coupure.", "Internet très lent ce soir.", "Plus de connexion depuis ce matin."),
            "praise": ("Internet ultra rapide !", "Connexion impeccable."),
        },
        "customer_service": {"complaint": ("Service client nul.", "Toujours pas rappelé."), "praise": ("Super service client, merci !",)},
        "billing": {"complaint": ("Prélevé deux fois. À corriger.", "Facture fausse encore."), "praise": ("Prélèvement simple.",)},
        "contract_terms": {"complaint": ("Frais de résiliation abusifs.",), "praise": ("Sans engagement, parfait.",)},
        "competitor_offer": {"complaint": ("{competitor} est moins cher.",), "praise": ("Mieux que {competitor}.",)},
        "moving": {"complaint": ("Pas de couverture à ma nouvelle adresse.",), "praise": ("Déménagement facile, merci !",)},
        "other": {"complaint": ("Appli encore en panne.",), "praise": ("Tout va bien !", "{client} {content}.")},
    },
}

# Sarcasm: positive words, negative meaning. Labelled negative.
SARCASTIC: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "price": (
            "Wow, another price increase. You really know how to make a customer feel special.",
            "Love paying {amount} a month for the privilege. Such a bargain.",
            "Thanks for the surprise {increase} increase, exactly what I wanted for my birthday.",
        ),
        "network_quality": (
            "Great, another outage, just what I needed during my meeting.",
            "Amazing {service}, it works almost one day out of two.",
            "Fantastic speeds tonight, I could walk the file over faster.",
            "Oh good, the internet died again. Never gets old.",
        ),
        "customer_service": (
            "Two hours on hold, what a delightful way to spend my Saturday.",
            "Your support is brilliant: they can restart a router like nobody else.",
            "Thanks for the callback that never came, really top-notch service.",
        ),
        "billing": (
            "Charged twice? How generous of me. Thanks for the lesson.",
            "Love a mystery {fee} fee on my bill, keeps life exciting.",
            "Great job on the paperless bill that never arrives. Very eco-friendly.",
        ),
        "contract_terms": (
            "Nothing says customer loyalty like a {fee} penalty to leave.",
            "Love how the contract renews itself without asking. So thoughtful.",
        ),
        "competitor_offer": (
            "Sure, keep charging me double what {competitor} asks. I'm sure that'll work out.",
            "Nice of you to let {competitor} make me a better offer than you ever did.",
        ),
        "moving": (
            "Wonderful, {days} weeks to move a phone line. Carrier pigeons would be faster.",
            "Brilliant: I move to {city} and suddenly you don't exist there.",
        ),
        "other": (
            "Love the new app. Logging in five times a day is great exercise.",
            "What a treat, the router overheats like a toaster. Cozy.",
        ),
    },
    "fr": {
        "price": (
            "Génial, encore une augmentation. Vous savez vraiment choyer vos clients.",
            "Quel plaisir de payer {amount} par mois pour ça. Une affaire !",
        ),
        "network_quality": (
            "Super, encore une panne, exactement ce qu'il me fallait pendant ma réunion.",
            "Bravo pour {service}, ça marche presque un jour sur deux.",
            "Formidable, internet a encore lâché. On ne s'en lasse pas.",
        ),
        "customer_service": (
            "Deux heures d'attente, quelle belle façon de passer mon samedi.",
            "Merci pour le rappel qui n'est jamais venu, service impeccable.",
        ),
        "billing": (
            "Prélevé deux fois ? Trop généreux de ma part. Merci.",
            "J'adore les frais mystère de {fee} sur ma facture, ça met du piment.",
        ),
        "contract_terms": ("Rien de tel qu'une pénalité de {fee} pour se sentir fidèle.",),
        "competitor_offer": ("Continuez à me facturer le double de {competitor}, ça va sûrement bien finir.",),
        "moving": ("Magnifique, {days} semaines pour transférer une ligne. Un pigeon voyageur irait plus vite.",),
        "other": ("J'adore la nouvelle appli. Se reconnecter cinq fois par jour, quel sport.",),
    },
}

# How a long comment opens (who is writing) and ends, and how a mixed one joins praise and complaint.
OPENERS = {
    "en": (
        "Hello,",
        "Hi there.",
        "I've been a customer for {tenure} and I want to share some feedback.",
        "Long-time {service} customer here ({tenure}).",
        "I'm writing after {tenure} with you.",
        "To whom it may concern,",
    ),
    "fr": (
        "Bonjour,",
        "Bonsoir.",
        "Je suis {client} depuis {tenure} et je voulais vous faire part de mon avis.",
        "{client} depuis {tenure}, je vous écris au sujet de mon abonnement.",
        "Madame, Monsieur,",
    ),
}
SIGNOFFS = {
    "en": ("Thanks.", "Regards.", "Thank you for reading.", "", "Hope someone actually reads this."),
    "fr": ("Merci.", "Cordialement.", "Merci de votre lecture.", "", "En espérant être lu."),
}
CONNECTORS = {
    "en": ("On top of that,", "Also,", "And", "Plus,", "What's more,"),
    "fr": ("En plus,", "Et", "Par ailleurs,", "De plus,"),
}
BUT = {"en": ("but", "however", "yet", "but honestly"), "fr": ("mais", "par contre", "cependant")}
THAT_SAID = {"en": ("That said,", "Still,", "To be fair,", "On the other hand,"), "fr": ("Cela dit,", "En revanche,", "Pour être honnête,")}

# What the comment says about staying: the churn-risk label's evidence.
RISK_CLOSERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "high": (
            "I'm cancelling at the end of the month.",
            "Please tell me how to cancel my account.",
            "I've had enough, I'm leaving.",
            "Consider this my notice.",
            "I'm closing my account as soon as possible.",
        ),
        "high_competitor": ("I'm switching to {competitor} next week.", "I've already signed up with {competitor}."),
        "high_neutral": ("Please cancel my account from next month.", "Please close the account at the end of this billing cycle."),
        "medium": (
            "If this isn't fixed soon I'll look elsewhere.",
            "I'm starting to look at other providers.",
            "One more problem and I'm gone.",
            "Honestly thinking about switching.",
            "Not sure how much longer I'll stay.",
        ),
        "medium_neutral": ("I'm deciding whether to keep the service.", "I'm weighing my options before renewing."),
        "low_complaint": ("Please fix it.", "Can someone look into this?", "", "I'd like an answer."),
        "low_praise": ("Keep it up!", "Happy to stay.", "", "Thanks!", "Will renew for sure."),
        "medium_praise": ("I'll stay as long as the price stays reasonable.", "Just don't raise the price and I'll stay."),
    },
    "fr": {
        "high": (
            "Je résilie à la fin du mois.",
            "Merci de m'indiquer comment résilier.",
            "J'en ai assez, je pars.",
            "Considérez ce message comme mon préavis.",
        ),
        "high_competitor": ("Je passe chez {competitor} la semaine prochaine.", "J'ai déjà signé chez {competitor}."),
        "high_neutral": ("Merci de résilier mon abonnement à partir du mois prochain.", "Merci de fermer mon compte à la fin de la période."),
        "medium": (
            "Si ça continue, je vais voir ailleurs.",
            "Je commence à regarder la concurrence.",
            "Encore un problème et je pars.",
            "Je songe sérieusement à changer d'opérateur.",
        ),
        "medium_neutral": ("J'hésite à garder le service.", "Je réfléchis avant de renouveler."),
        "low_complaint": ("Merci de régler ça.", "Quelqu'un peut regarder ?", ""),
        "low_praise": ("Continuez comme ça !", "Je reste chez vous.", "", "Merci !"),
        "medium_praise": ("Je reste tant que le prix reste raisonnable.", "N'augmentez pas le prix et je reste."),
    },
}

COMPETITORS = ("NovaTel", "Skyline", "FibreNow", "Orbit Mobile", "ClearWave", "Northwind Telecom")
CITIES = {
    "en": ("Denver", "Austin", "Portland", "Chicago", "Phoenix", "Raleigh", "Boise"),
    "fr": ("Montréal", "Québec", "Sherbrooke", "Gatineau", "Laval", "Trois-Rivières"),
}
SERVICES = {
    "en": {"Fiber optic": "fiber", "DSL": "DSL", "No": "phone line"},
    "fr": {"Fiber optic": "la fibre", "DSL": "l'ADSL", "No": "la ligne téléphonique"},
}
